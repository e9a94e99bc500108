"""Batches: every window exactly once, in order, whole chip rows kept together when they fit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tiling.batch import MAX_BATCH_CHIPS, make_batches
from tiling.windows import chip_windows


@given(st.integers(1, 30_000), st.integers(1, 6_000), st.sampled_from([64, 128, 256, 512]))
def test_batches_partition_the_grid_in_order(width: int, height: int, size: int) -> None:
    windows = chip_windows(width, height, size, size // 8)
    batches = make_batches(windows)
    assert [w for batch in batches for w in batch] == windows
    row_length = sum(1 for w in windows if w.row_off == 0)
    for batch in batches:
        assert 0 < len(batch) <= MAX_BATCH_CHIPS
        if row_length <= MAX_BATCH_CHIPS:
            assert len(batch) % row_length == 0, "whole chip rows only"
