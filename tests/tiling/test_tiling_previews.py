"""Previews through lookup tables are pixel for pixel what stretching each pixel gives."""

from __future__ import annotations

import numpy as np
import pytest

from imagery import DisplayStretch
from tiling.chip import lookup_tables, preview_pixels


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "int32", "float32"])
def test_lookup_tables_equal_the_stretch(dtype: str) -> None:
    rng = np.random.default_rng(5)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else np.iinfo("int16")
    data = rng.integers(info.min, info.max, (4, 64, 96), endpoint=True).astype(dtype)
    stretch = DisplayStretch(bands=(3, 2, 1), low=(-50.0, 10.0, 200.5), high=(900.0, 5000.0, 200.5))
    valid = rng.random((64, 96)) > 0.2
    expected = stretch.apply(data[[2, 1, 0]])
    expected[:, ~valid] = 0
    planes = preview_pixels(stretch, data, valid)
    np.testing.assert_array_equal(np.stack(planes), expected)
    np.testing.assert_array_equal(
        np.stack(preview_pixels(stretch, data, None)), stretch.apply(data[[2, 1, 0]])
    )
    assert (lookup_tables(stretch, dtype) is None) == (dtype in ("int32", "float32"))
