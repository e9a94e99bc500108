"""Previews through lookup tables are pixel for pixel what stretching each pixel gives."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from imagery import DisplayStretch
from tiling.chip import PREVIEW_QUALITY, lookup_tables, preview_pixels, write_preview


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "int32", "float32"])
def test_lookup_tables_equal_the_stretch(dtype: str) -> None:
    rng = np.random.default_rng(5)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else np.iinfo("int16")
    data = rng.integers(info.min, info.max, (4, 64, 96), endpoint=True).astype(dtype)
    stretch = DisplayStretch(bands=(3, 2, 1), low=(-50.0, 10.0, 200.5), high=(900.0, 5000.0, 200.5))
    valid = rng.random((64, 96)) > 0.2
    expected = stretch.apply(data[[2, 1, 0]])
    expected[:, ~valid] = 0
    pixels = preview_pixels(stretch, data, valid)
    assert pixels.shape == (64, 96, 4), "Pillow's RGBX layout"
    np.testing.assert_array_equal(np.moveaxis(pixels[:, :, :3], -1, 0), expected)
    np.testing.assert_array_equal(
        np.moveaxis(preview_pixels(stretch, data, None)[:, :, :3], -1, 0), stretch.apply(data[[2, 1, 0]])
    )
    assert (lookup_tables(stretch, dtype) is None) == (dtype in ("int32", "float32"))


def test_single_band_previews_are_grey_planes() -> None:
    data = np.arange(64 * 96, dtype="uint16").reshape(1, 64, 96)
    stretch = DisplayStretch(bands=(1,), low=(100.0,), high=(5000.0,))
    valid = np.ones((64, 96), bool)
    valid[:, :10] = False
    pixels = preview_pixels(stretch, data, valid)
    expected = stretch.apply(data)[0]
    expected[:, :10] = 0
    np.testing.assert_array_equal(pixels, expected)


def test_preview_jpeg_shows_the_stretched_planes(tmp_path: Path) -> None:
    """A baseline 4:2:0 JPEG of the displayed bands, as faithful to them as Pillow's of the merged planes."""
    rng = np.random.default_rng(9)
    data = (rng.integers(0, 40, (4, 80, 120)) * 100 + np.arange(120) * 10).astype("uint16")
    stretch = DisplayStretch(bands=(3, 2, 1), low=(10.0, 20.0, 30.0), high=(3000.0, 3500.0, 3900.0))
    job = SimpleNamespace(stretch=stretch, out_dir=tmp_path, preview_path=lambda window: "p.jpg")
    write_preview(job, None, data, None)  # type: ignore[arg-type]
    planes = [Image.fromarray(plane) for plane in stretch.apply(data[[2, 1, 0]])]
    merged = tmp_path / "merged.jpg"
    Image.merge("RGB", planes).save(merged, format="JPEG", quality=PREVIEW_QUALITY)
    with Image.open(tmp_path / "p.jpg") as ours, Image.open(merged) as pillows:
        assert (ours.format, ours.mode, ours.size) == ("JPEG", "RGB", (120, 80))
        assert [c[1:3] for c in ours.layer] == [(2, 2), (1, 1), (1, 1)], "chroma at half resolution (4:2:0)"
        expected = np.moveaxis(stretch.apply(data[[2, 1, 0]]), 0, -1).astype(float)
        our_error = np.abs(np.asarray(ours, float) - expected).mean()
        assert our_error <= 1.05 * np.abs(np.asarray(pillows, float) - expected).mean()


def test_single_band_previews_are_grey_jpegs(tmp_path: Path) -> None:
    data = np.arange(64 * 96, dtype="uint16").reshape(1, 64, 96)
    stretch = DisplayStretch(bands=(1,), low=(100.0,), high=(5000.0,))
    job = SimpleNamespace(stretch=stretch, out_dir=tmp_path, preview_path=lambda window: "g.jpg")
    write_preview(job, None, data, None)  # type: ignore[arg-type]
    with Image.open(tmp_path / "g.jpg") as grey:
        assert (grey.format, grey.mode, grey.size) == ("JPEG", "L", (96, 64))
        assert np.abs(np.asarray(grey, float) - stretch.apply(data)[0]).mean() < 2.0


def test_previews_show_one_band_or_three() -> None:
    """Two bands would leave the blue channel unset: refused, as Pillow's merge refused it before."""
    stretch = DisplayStretch(bands=(1, 2), low=(0.0, 0.0), high=(100.0, 100.0))
    with pytest.raises(ValueError, match="one band or three"):
        preview_pixels(stretch, np.zeros((2, 8, 8), "uint16"), None)
