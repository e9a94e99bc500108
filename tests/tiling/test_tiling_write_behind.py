"""Write-behind: files stay whole, no descriptor is held, and dropped pages leave the cache; a file is closed
before it is renamed into place, so a write the file system fails on close leaves no file (issue 16)."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
from pathlib import Path

import pytest

import tiling.atomic
from tiling import TileParameters, tile_image
from tiling.atomic import TEMP_MARK, write_atomically
from tiling.write_behind import WriteBehind

PAGE = mmap.PAGESIZE


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def resident_pages(path: Path) -> int:
    """Pages of ``path`` in the page cache (mincore over a private, never written mapping)."""
    libc = ctypes.CDLL(None, use_errno=True)
    size = path.stat().st_size
    pages = -(-size // PAGE)
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_COPY) as mapped:
        start = ctypes.c_char.from_buffer(mapped)
        vector = (ctypes.c_ubyte * pages)()
        failed = libc.mincore(ctypes.c_void_p(ctypes.addressof(start)), ctypes.c_size_t(size), vector)
        del start  # the buffer export must end before the mapping closes
        if failed:
            pytest.skip(f"mincore failed: {os.strerror(ctypes.get_errno())}")
        resident = sum(byte & 1 for byte in vector)
    return resident


def drops_clean_pages(folder: Path) -> bool:
    """Whether this file system lets POSIX_FADV_DONTNEED drop a synced file's pages (tmpfs does not)."""
    control = folder / "control"
    control.write_bytes(os.urandom(16 * PAGE))
    descriptor = os.open(control, os.O_RDONLY)
    try:
        os.fsync(descriptor)
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)
    dropped = resident_pages(control) == 0
    control.unlink()
    return dropped


def test_files_stay_whole_and_held_ones_are_bounded(tmp_path: Path) -> None:
    before = open_descriptors()
    contents = [os.urandom(100_000 + i) for i in range(20)]
    with WriteBehind(window_bytes=300_000) as behind:
        for i, data in enumerate(contents):
            write_atomically(str(tmp_path / f"f{i}"), [data[:10], memoryview(data)[10:]], behind)
            behind.settle()
            assert 1 <= behind.held <= 4  # the window's worth, and never less than the newest file
            assert open_descriptors() == before  # every file is closed before it is named and handed over
    assert behind.held == 0
    assert open_descriptors() == before
    assert [(tmp_path / f"f{i}").read_bytes() for i in range(20)] == contents
    assert not [p for p in tmp_path.iterdir() if TEMP_MARK in p.name]


def test_a_failed_write_leaves_nothing_held_or_open(tmp_path: Path) -> None:
    before = open_descriptors()
    with WriteBehind() as behind:
        with pytest.raises(TypeError):
            write_atomically(str(tmp_path / "broken"), [b"header", object()], behind)
        assert behind.held == 0
    assert open_descriptors() == before
    assert list(tmp_path.iterdir()) == []


def test_a_file_handed_over_after_close_is_refused(tmp_path: Path) -> None:
    behind = WriteBehind()
    behind.close()
    before = open_descriptors()
    with pytest.raises(ValueError, match="closed"):
        write_atomically(str(tmp_path / "late"), [b"data"], behind)
    assert open_descriptors() == before


def close_reporting_eio(descriptor: int) -> None:
    """A close as a network file system may answer it: the descriptor is gone, the write failed."""
    os.close(descriptor)
    raise OSError(errno.EIO, "Input/output error")


def test_a_write_the_file_system_fails_on_close_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tiling.atomic, "close_descriptor", close_reporting_eio)
    before = open_descriptors()
    with WriteBehind() as behind:
        with pytest.raises(OSError, match="Input/output error"):
            write_atomically(str(tmp_path / "f"), [b"data"], behind)
        assert behind.held == 0
    assert open_descriptors() == before
    assert list(tmp_path.iterdir()) == []  # neither the final name nor the temporary one


def test_released_files_leave_the_page_cache_once_on_disk(tmp_path: Path) -> None:
    if not drops_clean_pages(tmp_path):
        pytest.skip("this file system keeps clean pages despite POSIX_FADV_DONTNEED")
    paths = [tmp_path / f"f{i}" for i in range(8)]
    with WriteBehind(window_bytes=64 * PAGE) as behind:
        for path in paths:
            write_atomically(str(path), [os.urandom(32 * PAGE)], behind)
            behind.settle()  # its writeback started
            os.sync()  # what the window waits for in a run: the disk has written it back meanwhile
        assert behind.held == 2
    assert [resident_pages(path) for path in paths] == [0] * len(paths)
    assert all(len(path.read_bytes()) == 32 * PAGE for path in paths)


def test_a_tiling_run_leaves_no_descriptor_open(utm_image: Path, tmp_path: Path) -> None:
    # A first run loads what libraries keep open for the process (PROJ's database, for the index's CRS).
    tile_image(utm_image, tmp_path / "first", TileParameters(size=512, overlap=0))
    before = open_descriptors()
    summary = tile_image(utm_image, tmp_path / "out", TileParameters(size=128, overlap=16))
    assert summary.chips_written > 0
    assert open_descriptors() == before
