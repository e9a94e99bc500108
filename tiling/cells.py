"""Decoded source pixels shared by the chips of a run, so that every source block is decoded once.

Neighbouring chips overlap (by ``overlap`` pixels) and rarely align with the source's internal blocks, so
reading each chip from the file decodes most blocks two to four times, and GDAL's block cache belongs to one
open handle (one task). Instead the source is read in block-aligned *cells* (a few blocks wide, one block
row tall); a chip is copied out of the two to four cells it overlaps, and a cell is dropped as soon as the
last chip that needs it has been copied. Threads of one process share one :class:`CellCache`: the first
thread to need a cell decodes it (GDAL and NumPy release the GIL), the others wait for it.

Pixels are identical to a direct windowed read: a non-resampling read of a window is the same whether
GDAL is asked for it or for a larger window containing it.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from rasterio.windows import Window

from tiling.windows import ChipWindow

#: Cells are whole blocks, at least this many rows tall and columns wide (one 512 x 2048 cell of a 4-band
#: uint16 image is 8 MB).
MIN_CELL_ROWS = 256
MIN_CELL_COLS = 2048
#: Decoded cells kept at most; past it the least recently used are dropped (and decoded again if a chip
#: still needs them: slower, never wrong). Chips taken in row-major order keep about two cell rows alive.
DEFAULT_BUDGET_BYTES = 1 << 30
#: Arrays of each cell shape kept for reuse (the two threads of a run keep about as many cells alive).
MAX_SPARE_CELLS = 8

Cell = tuple[int, int]


@dataclass(frozen=True, slots=True)
class CellGrid:
    """Block-aligned cells over a ``width`` x ``height`` image (the last row and column cut at the edge)."""

    width: int
    height: int
    rows: int
    cols: int

    @classmethod
    def for_dataset(cls, dataset: Any) -> CellGrid:
        block_rows, block_cols = dataset.block_shapes[0]
        block_rows, block_cols = max(1, block_rows), max(1, block_cols)
        rows = block_rows * -(-MIN_CELL_ROWS // block_rows)
        cols = block_cols * -(-MIN_CELL_COLS // block_cols)
        return cls(dataset.width, dataset.height, rows, cols)

    def inside(self, window: ChipWindow) -> bool:
        return window.row_off + window.height <= self.height and window.col_off + window.width <= self.width

    def cells(self, window: ChipWindow) -> list[Cell]:
        """The cells a window inside the image overlaps, row-major."""
        first_row, last_row = window.row_off // self.rows, (window.row_off + window.height - 1) // self.rows
        first_col, last_col = window.col_off // self.cols, (window.col_off + window.width - 1) // self.cols
        return [(i, j) for i in range(first_row, last_row + 1) for j in range(first_col, last_col + 1)]

    def window(self, cell: Cell) -> Window:
        row, col = cell[0] * self.rows, cell[1] * self.cols
        return Window(col, row, min(self.cols, self.width - col), min(self.rows, self.height - row))


class _Loading:
    """A cell one thread is decoding; the others wait on ``done``."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class CellCache:
    """Cells of one source for a known set of chip windows, each decoded once and freed after its last use.

    ``windows`` are the chips that will be read through this cache (each cell is kept until as many chips
    as overlap it have been taken). Thread-safe; every thread reads with its own dataset handle.
    """

    def __init__(self, windows: Iterable[ChipWindow], budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self._windows = list(windows)
        self._budget = budget_bytes
        self._lock = threading.Lock()
        self._grid: CellGrid | None = None
        self._uses: Counter[Cell] = Counter()
        self._cells: OrderedDict[Cell, np.ndarray] = OrderedDict()
        self._loading: dict[Cell, _Loading] = {}
        self._bytes = 0
        #: Arrays of cells every chip is done with, decoded into again: fresh arrays are zeroed by the
        #: kernel page by page (about a twentieth of a run's CPU time with a new array per cell).
        self._spare: dict[tuple[int, ...], list[np.ndarray]] = {}

    def grid(self, dataset: Any) -> CellGrid:
        with self._lock:
            if self._grid is None:
                self._grid = CellGrid.for_dataset(dataset)
                for window in self._windows:
                    if self._grid.inside(window):
                        self._uses.update(self._grid.cells(window))
            return self._grid

    def read(self, dataset: Any, window: ChipWindow, out: np.ndarray | None = None) -> np.ndarray:
        """The pixels of ``window`` (inside the image), bands x rows x cols, copied out of the cells."""
        grid = self.grid(dataset)
        data = (
            out
            if out is not None
            else np.empty((dataset.count, window.height, window.width), dataset.dtypes[0])
        )
        for cell in grid.cells(window):
            pixels = self._fetch(dataset, grid, cell)
            cell_row, cell_col = cell[0] * grid.rows, cell[1] * grid.cols
            top, left = max(window.row_off, cell_row), max(window.col_off, cell_col)
            bottom = min(window.row_off + window.height, cell_row + pixels.shape[1])
            right = min(window.col_off + window.width, cell_col + pixels.shape[2])
            data[
                :,
                top - window.row_off : bottom - window.row_off,
                left - window.col_off : right - window.col_off,
            ] = pixels[:, top - cell_row : bottom - cell_row, left - cell_col : right - cell_col]
        self.done_with(dataset, window)
        return data

    def prefetch(self, dataset: Any, windows: Iterable[ChipWindow]) -> None:
        """Decode the cells of ``windows`` (inside the image) now, ahead of the chips that will read them."""
        grid = self.grid(dataset)
        for cell in dict.fromkeys(cell for window in windows for cell in grid.cells(window)):
            self._fetch(dataset, grid, cell)

    def done_with(self, dataset: Any, window: ChipWindow) -> None:
        """Record that ``window`` needs its cells no more (read, or found already written)."""
        grid = self.grid(dataset)
        with self._lock:
            for cell in grid.cells(window):
                self._uses[cell] -= 1
                if self._uses[cell] <= 0:
                    del self._uses[cell]
                    pixels = self._drop(cell)
                    # Reusable: no chip will read this cell again, and each that did has copied its part.
                    spare = self._spare.setdefault(pixels.shape, []) if pixels is not None else None
                    if spare is not None and pixels is not None and len(spare) < MAX_SPARE_CELLS:
                        spare.append(pixels)

    def _drop(self, cell: Cell) -> np.ndarray | None:
        pixels = self._cells.pop(cell, None)
        if pixels is not None:
            self._bytes -= pixels.nbytes
        return pixels

    def _fetch(self, dataset: Any, grid: CellGrid, cell: Cell) -> np.ndarray:
        while True:
            with self._lock:
                pixels = self._cells.get(cell)
                if pixels is not None:
                    self._cells.move_to_end(cell)
                    return pixels
                loading = self._loading.get(cell)
                if loading is None:
                    loading = self._loading[cell] = _Loading()
                    window = grid.window(cell)
                    spare = self._spare.get((dataset.count, window.height, window.width))
                    out = spare.pop() if spare else None
                    break
            loading.done.wait()  # another thread is decoding it; take it from the cache then
        try:
            pixels = np.asarray(dataset.read(window=window, out=out))
            with self._lock:
                if self._uses.get(cell, 0) > 0:  # not released meanwhile (it cannot be, but never leak)
                    self._cells[cell] = pixels
                    self._bytes += pixels.nbytes
                    while self._bytes > self._budget and len(self._cells) > 1:
                        self._drop(next(iter(self._cells)))  # a chip may still be copying it: not spare
        finally:
            with self._lock:
                del self._loading[cell]
            loading.done.set()
        return pixels
