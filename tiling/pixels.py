"""A chip's pixels as the pieces they come in: views of the decoded cells a chip overlaps, not a copy.

A 512 px chip overlaps two to four cells (tiling.cells). Copying it out of them costs a 2 MB copy per chip
(0.3-0.7 ms, 3% of its time, more when the host's memory is busy); the chip's consumers (validity, the
TIFF predictor, the preview's lookup) read each piece where it lies instead, and only GDAL, where it
writes a chip, gets the chip assembled.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Piece:
    """Chip rows ``rows`` and columns ``cols`` (slices of the chip), whose pixels are ``pixels`` (bands x
    rows x cols, usually a view of a cell)."""

    rows: slice
    cols: slice
    pixels: np.ndarray


@dataclass(frozen=True, slots=True)
class ChipPixels:
    """The pixels of one chip, bands x height x width, in pieces that tile it in a grid, row-major."""

    bands: int
    height: int
    width: int
    dtype: np.dtype
    pieces: tuple[Piece, ...]

    @classmethod
    def whole(cls, pixels: np.ndarray) -> ChipPixels:
        bands, height, width = pixels.shape
        return cls(bands, height, width, pixels.dtype, (Piece(slice(0, height), slice(0, width), pixels),))

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.bands, self.height, self.width)

    def array(self, out: np.ndarray | None = None) -> np.ndarray:
        """The chip as one array: its only piece, or the pieces copied into ``out`` (or a new array)."""
        if len(self.pieces) == 1 and out is None:
            return self.pieces[0].pixels
        data = out if out is not None else np.empty(self.shape, self.dtype)
        for piece in self.pieces:
            data[:, piece.rows, piece.cols] = piece.pixels
        return data

    def within(self, rows: slice, cols: slice) -> Iterator[tuple[Piece, slice, slice]]:
        """The pieces overlapping chip rows ``rows`` and columns ``cols`` (slices with start and stop), each
        with the overlap's rows and columns, in chip coordinates."""
        for piece in self.pieces:
            top, bottom = max(piece.rows.start, rows.start), min(piece.rows.stop, rows.stop)
            left, right = max(piece.cols.start, cols.start), min(piece.cols.stop, cols.stop)
            if top < bottom and left < right:
                yield piece, slice(top, bottom), slice(left, right)

    def column(self, col: int, rows: slice) -> np.ndarray:
        """Chip column ``col`` over chip rows ``rows`` (which one row of pieces holds), bands x rows."""
        for piece in self.pieces:
            if piece.cols.start <= col < piece.cols.stop and piece.rows.start <= rows.start < piece.rows.stop:
                top = rows.start - piece.rows.start
                return piece.pixels[:, top : top + rows.stop - rows.start, col - piece.cols.start]
        raise IndexError(f"no piece holds column {col} of rows {rows}")


def view(piece: Piece, rows: slice, cols: slice) -> np.ndarray:
    """The part of ``piece``'s pixels at chip rows ``rows`` and columns ``cols`` (inside the piece)."""
    return piece.pixels[
        :,
        rows.start - piece.rows.start : rows.stop - piece.rows.start,
        cols.start - piece.cols.start : cols.stop - piece.cols.start,
    ]
