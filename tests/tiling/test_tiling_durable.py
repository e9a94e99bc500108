"""Files appear whole, no descriptor is held, a file is closed before it is renamed into place (a write the
file system fails on close leaves no file), and a batch is on disk before it is recorded as done, its pages
then out of the page cache (issue 16)."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
from pathlib import Path

import orjson
import pytest

import tiling.atomic
import tiling.batch
from tiling import TileParameters, tile_image
from tiling.atomic import TEMP_MARK, make_durable, write_atomically

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


def test_files_are_whole_and_no_descriptor_stays_open(tmp_path: Path) -> None:
    before = open_descriptors()
    contents = [os.urandom(100_000 + i) for i in range(20)]
    for i, data in enumerate(contents):
        write_atomically(str(tmp_path / f"f{i}"), [data[:10], memoryview(data)[10:]])
        assert open_descriptors() == before  # every file is closed before it is named
    assert [(tmp_path / f"f{i}").read_bytes() for i in range(20)] == contents
    assert not [p for p in tmp_path.iterdir() if TEMP_MARK in p.name]


def test_a_failed_write_leaves_nothing_open(tmp_path: Path) -> None:
    before = open_descriptors()
    with pytest.raises(TypeError):
        write_atomically(str(tmp_path / "broken"), [b"header", object()])
    assert open_descriptors() == before
    assert list(tmp_path.iterdir()) == []


def close_reporting_eio(descriptor: int) -> None:
    """A close as a network file system may answer it: the descriptor is gone, the write failed."""
    os.close(descriptor)
    raise OSError(errno.EIO, "Input/output error")


def test_a_write_the_file_system_fails_on_close_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tiling.atomic, "close_descriptor", close_reporting_eio)
    before = open_descriptors()
    with pytest.raises(OSError, match="Input/output error"):
        write_atomically(str(tmp_path / "f"), [b"data"])
    assert open_descriptors() == before
    assert list(tmp_path.iterdir()) == []  # neither the final name nor the temporary one


def test_durable_files_leave_the_page_cache(tmp_path: Path) -> None:
    if not drops_clean_pages(tmp_path):
        pytest.skip("this file system keeps clean pages despite POSIX_FADV_DONTNEED")
    paths = [tmp_path / f"f{i}" for i in range(8)]
    for path in paths:
        write_atomically(str(path), [os.urandom(32 * PAGE)])
    before = open_descriptors()
    make_durable([str(path) for path in paths], [str(tmp_path)])
    assert open_descriptors() == before
    assert [resident_pages(path) for path in paths] == [0] * len(paths)
    assert all(len(path.read_bytes()) == 32 * PAGE for path in paths)


def test_a_batch_is_on_disk_before_it_is_recorded_done(
    utm_image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Power lost after a batch's record was written must not leave a chip of it off the disk: a batch's
    chips and previews are synced (with their folders) before its record is written, the record after."""
    out = tmp_path / "out"
    synced: list[str] = []

    def recorded_chips() -> set[str]:
        batches = out / ".geo-label" / "batches"
        rows = [row for record in batches.glob("*.json") for row in orjson.loads(record.read_bytes())]
        return {f"{out}/{row['path']}" for row in rows if row["path"]}

    def recording(files: list[str], folders: list[str]) -> None:
        chips = {path for path in files if path.endswith(".tif")}
        assert not chips & recorded_chips(), "a chip synced after its batch was recorded"
        make_durable(files, folders)
        synced.extend(files)

    monkeypatch.setattr(tiling.batch, "make_durable", recording)
    summary = tile_image(utm_image, out, TileParameters(size=128, overlap=16))
    assert recorded_chips() <= set(synced)
    outputs = [path for path in synced if "/batches/" not in path]
    assert len(outputs) == 2 * summary.chips_written  # every chip and preview
    assert all(str(record) in synced for record in (out / ".geo-label" / "batches").glob("*.json"))


def test_a_tiling_run_leaves_no_descriptor_open(utm_image: Path, tmp_path: Path) -> None:
    # A first run loads what libraries keep open for the process (PROJ's database, for the index's CRS).
    tile_image(utm_image, tmp_path / "first", TileParameters(size=512, overlap=0))
    before = open_descriptors()
    summary = tile_image(utm_image, tmp_path / "out", TileParameters(size=128, overlap=16))
    assert summary.chips_written > 0
    assert open_descriptors() == before
