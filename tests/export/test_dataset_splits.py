"""Dataset splits (issue 14): every chip placed once, no two chips of different splits share a pixel or an
edge, and the same seed gives the same splits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_label.datasets.splits import GUARD, GridChip, SplitPlan, assign_splits, parse_fractions
from geo_label.errors import InvalidInputError


def grid(images: int, rows: int, cols: int, size: int, overlap: int) -> list[GridChip]:
    stride = size - overlap
    return [
        GridChip(f"{image}-{r}-{c}", f"image-{image}", r * stride, c * stride, size, size, stride)
        for image in range(images)
        for r in range(rows)
        for c in range(cols)
    ]


def touching(a: GridChip, b: GridChip) -> bool:
    return (
        a.image_id == b.image_id
        and a.col_off <= b.col_off + b.width
        and b.col_off <= a.col_off + a.width
        and a.row_off <= b.row_off + b.height
        and b.row_off <= a.row_off + a.height
    )


fractions = st.sampled_from([(1.0,), (0.8, 0.2), (0.8, 0.1, 0.1), (0.5, 0.25, 0.25), (0.34, 0.33, 0.33)])


@settings(max_examples=60, deadline=None)
@given(
    images=st.integers(1, 3),
    rows=st.integers(1, 9),
    cols=st.integers(1, 9),
    size=st.sampled_from([64, 256, 512]),
    overlap_share=st.sampled_from([0.0, 0.125, 0.25, 0.6]),
    shares=fractions,
    seed=st.integers(0, 2**31 - 1),
    block=st.integers(1, 4),
)
def test_no_pixel_in_two_splits(
    images: int,
    rows: int,
    cols: int,
    size: int,
    overlap_share: float,
    shares: tuple[float, ...],
    seed: int,
    block: int,
) -> None:
    chips = grid(images, rows, cols, size, int(size * overlap_share))
    plan = SplitPlan(fractions=shares, seed=seed, block=block)
    placed = assign_splits(chips, plan)
    assert set(placed) == {chip.id for chip in chips}
    assert set(placed.values()) <= {*plan.names, GUARD}
    kept = [chip for chip in chips if placed[chip.id] != GUARD]
    for a in kept:
        for b in kept:
            if placed[a.id] != placed[b.id]:
                assert not touching(a, b)
    assert placed == assign_splits(chips, plan), "the same seed, the same splits"


def test_blocks_keep_most_chips_and_follow_the_shares() -> None:
    chips = grid(4, 24, 24, 512, 64)
    placed = assign_splits(chips, SplitPlan(fractions=(0.8, 0.1, 0.1), seed=7, block=8))
    counts = {name: sum(1 for v in placed.values() if v == name) for name in ("train", "val", "test", GUARD)}
    assert counts[GUARD] / len(chips) < 0.12
    kept = len(chips) - counts[GUARD]
    assert 0.05 < counts["val"] / kept < 0.2 and 0.05 < counts["test"] / kept < 0.2


def test_seeds_differ() -> None:
    chips = grid(2, 16, 16, 256, 32)
    first = assign_splits(chips, SplitPlan(seed=1, block=2))
    assert first != assign_splits(chips, SplitPlan(seed=2, block=2))


@pytest.mark.parametrize("text", ["0.8,0.3", "a,b", "0.5,0.2,0.2,0.1", "-0.1,1.1", ""])
def test_bad_shares_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_fractions(text)


def test_shares_parse() -> None:
    assert parse_fractions("0.8,0.1,0.1") == (0.8, 0.1, 0.1)
    assert parse_fractions("1") == (1.0,)
