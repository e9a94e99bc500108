"""The window arithmetic: coverage, overlap, edge shifting and the small-image case, for any image size."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiling.windows import axis_offsets, chip_windows

lengths = st.integers(min_value=1, max_value=5000)
sizes = st.integers(min_value=1, max_value=1024)


@st.composite
def size_and_overlap(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@given(lengths, size_and_overlap())
def test_offsets_cover_every_pixel_with_full_chips_inside_the_image(length: int, so: tuple[int, int]) -> None:
    size, overlap = so
    offsets = axis_offsets(length, size, overlap)
    covered = np.zeros(length, dtype=bool)
    for offset in offsets:
        covered[offset : offset + size] = True
        if length >= size:
            assert 0 <= offset <= length - size, "every chip is full size and inside the image"
    assert covered.all()
    assert offsets == sorted(set(offsets)), "strictly increasing, no duplicate chip"


@given(lengths, size_and_overlap())
def test_neighbours_share_at_least_the_overlap_and_only_the_last_is_shifted(
    length: int, so: tuple[int, int]
) -> None:
    size, overlap = so
    offsets = axis_offsets(length, size, overlap)
    stride = size - overlap
    for i, (a, b) in enumerate(itertools.pairwise(offsets)):
        assert a + size - b >= overlap
        if i + 1 < len(offsets) - 1:
            assert b - a == stride, "regular stride except for the shifted last chip"
    if length > size:
        assert offsets[-1] == length - size, "the last chip ends exactly at the edge"
        assert len(offsets) == math.ceil((length - size) / stride) + 1


@given(st.integers(1, 511), st.integers(1, 511))
def test_an_image_smaller_than_one_chip_gives_one_padded_chip(width: int, height: int) -> None:
    [window] = chip_windows(width, height, 512, 64)
    assert (window.row_off, window.col_off, window.width, window.height) == (0, 0, 512, 512)


def test_example_grid() -> None:
    assert axis_offsets(1000, 512, 64) == [0, 448, 488]
    assert axis_offsets(1300, 512, 64) == [0, 448, 788]
    assert axis_offsets(512, 512, 64) == [0]
    assert len(chip_windows(1300, 1000, 512, 64)) == 9


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (512, 512), (512, 600), (512, -1)])
def test_bad_parameters_are_refused_with_a_reason(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        axis_offsets(1000, size, overlap)
