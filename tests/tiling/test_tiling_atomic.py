"""Temporary names of files written atomically: unique across threads and processes."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tiling.atomic import TEMP_MARK, temporary_name


def test_temporary_names_are_hidden_marked_and_beside_the_file(tmp_path: Path) -> None:
    final = tmp_path / "chips" / "r0_c0.tif"
    temp = Path(temporary_name(str(final)))
    assert temp.parent == final.parent
    assert temp.name.startswith(".r0_c0.tif" + TEMP_MARK)
    assert Path(temporary_name("r0_c0.tif")).parent == Path()


def test_temporary_names_are_unique_across_threads() -> None:
    with ThreadPoolExecutor(4) as pool:
        names = list(pool.map(lambda _: temporary_name("/out/chip.tif"), range(4000)))
    assert len(set(names)) == len(names)


def test_a_forked_child_draws_names_of_its_own() -> None:
    read_end, write_end = os.pipe()
    before = temporary_name("/out/chip.tif")
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.write(write_end, temporary_name("/out/chip.tif").encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    in_child = os.read(read_end, 4096).decode()
    os.close(read_end)
    after = temporary_name("/out/chip.tif")
    prefix = before.rsplit("-", 1)[0]
    assert after.rsplit("-", 1)[0] == prefix
    assert in_child.rsplit("-", 1)[0] != prefix
