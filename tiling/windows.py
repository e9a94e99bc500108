"""Chip window arithmetic: pure functions, no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class ChipWindow:
    """A chip's pixel window in the source image. ``width``/``height`` are always the chip size; a chip of an
    image smaller than one chip extends past the image and is padded with nodata."""

    row_off: int
    col_off: int
    height: int
    width: int

    @property
    def key(self) -> str:
        return f"r{self.row_off:07d}_c{self.col_off:07d}"


def axis_offsets(length: int, size: int, overlap: int) -> list[int]:
    """Start offsets of chips along one axis of ``length`` pixels.

    With stride ``s = size - overlap`` the offsets are ``0, s, 2s, ...`` while a chip still fits, and the
    last chip is shifted inward to start at ``length - size`` so it ends exactly at the image edge:

        n = 1                         if length <= size
        n = ceil((length - size) / s) + 1   otherwise
        offset_i = min(i * s, length - size)   for i in 0 .. n-1

    Every pixel is covered; neighbours share at least ``overlap`` pixels (the shifted last pair shares
    more). An axis shorter than one chip gives the single offset 0.
    """
    if size <= 0:
        raise ValueError(f"chip size must be positive, got {size}")
    if not 0 <= overlap < size:
        raise ValueError(f"overlap must be at least 0 and smaller than the chip size ({size}), got {overlap}")
    if length <= size:
        return [0]
    stride = size - overlap
    count = math.ceil((length - size) / stride) + 1
    return [min(i * stride, length - size) for i in range(count)]


def chip_windows(width: int, height: int, size: int, overlap: int) -> list[ChipWindow]:
    """The grid of ``size`` x ``size`` windows over a ``width`` x ``height`` image, row-major.

    See :func:`axis_offsets` for the formula on each axis.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image must have pixels, got {width} x {height}")
    return [
        ChipWindow(row_off=row, col_off=col, height=size, width=size)
        for row in axis_offsets(height, size, overlap)
        for col in axis_offsets(width, size, overlap)
    ]
