"""The shared cell cache gives every chip exactly the pixels a direct read gives, decodes each cell once,
and keeps nothing once the last chip that needs a cell has been read."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import given
from hypothesis import strategies as st
from rasterio.windows import Window

from tiling.cells import CellCache, CellGrid
from tiling.windows import ChipWindow, chip_windows


@given(st.integers(1, 5000), st.integers(1, 5000), st.sampled_from([1, 16, 256, 512]), st.data())
def test_a_window_is_covered_by_exactly_its_cells(
    width: int, height: int, block: int, data: st.DataObject
) -> None:
    grid = CellGrid(width, height, block * -(-256 // block), block * -(-2048 // block))
    size = data.draw(st.integers(1, min(width, height)))
    row = data.draw(st.integers(0, height - size))
    col = data.draw(st.integers(0, width - size))
    covered = 0
    for cell in grid.cells(ChipWindow(row, col, size, size)):
        window = grid.window(cell)
        rows = min(row + size, window.row_off + window.height) - max(row, window.row_off)
        cols = min(col + size, window.col_off + window.width) - max(col, window.col_off)
        assert rows > 0 and cols > 0, "no cell that the window does not overlap"
        covered += rows * cols
    assert covered == size * size


@pytest.mark.parametrize("workers", [1, 3])
def test_cached_reads_equal_direct_reads_and_free_every_cell(utm_image: Path, workers: int) -> None:
    with rasterio.open(utm_image) as src:
        width, height = src.width, src.height
    windows = chip_windows(width, height, 200, 24)
    cache = CellCache(windows)

    def check(part: list[ChipWindow]) -> None:
        with rasterio.open(utm_image) as src:
            for window in part:
                direct = src.read(window=Window(window.col_off, window.row_off, window.width, window.height))
                np.testing.assert_array_equal(cache.read(src, window), direct)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(check, [windows[i::workers] for i in range(workers)]))
    assert not cache._cells and not cache._uses and cache._bytes == 0, "every cell freed after its last use"


def test_a_budget_smaller_than_a_cell_still_reads_right(utm_image: Path) -> None:
    with rasterio.open(utm_image) as src:
        windows = chip_windows(src.width, src.height, 128, 0)
        cache = CellCache(windows, budget_bytes=1)
        for window in windows:
            direct = src.read(window=Window(window.col_off, window.row_off, window.width, window.height))
            np.testing.assert_array_equal(cache.read(src, window), direct)
