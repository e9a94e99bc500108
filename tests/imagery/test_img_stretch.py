"""Display stretch: band choice, 2-98 percentiles from a sample close to the full image's, nodata ignored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.enums import ColorInterp

from imagery import DisplayStretch, compute_stretch, inspect_image, valid_mask
from imagery.stretch import choose_display_bands, percentiles, read_statistics_sample, sample_windows
from tests import rasters
from tests.imagery.conftest import UTM_TRANSFORM, ramp, write_raster


def full_percentiles(path: Path, bands: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """numpy's 2nd and 98th percentiles of every valid pixel of each band, and each band's valid range."""
    with rasterio.open(path) as src:
        data = src.read(list(bands)).astype(np.float64)
        nodata = src.nodata
    lows, highs, ranges = [], [], []
    for band in data:
        values = band[band != nodata] if nodata is not None else band.ravel()
        low, high = np.percentile(values, [2, 98])
        lows.append(low)
        highs.append(high)
        ranges.append(values.max() - values.min())
    return np.array(lows), np.array(highs), np.array(ranges)


def assert_close_to_full_image(stretch: DisplayStretch, path: Path, fraction: float) -> None:
    lows, highs, ranges = full_percentiles(path, stretch.bands)
    assert np.all(np.abs(np.array(stretch.low) - lows) <= fraction * ranges), (stretch.low, lows)
    assert np.all(np.abs(np.array(stretch.high) - highs) <= fraction * ranges), (stretch.high, highs)
    assert all(low < high for low, high in zip(stretch.low, stretch.high, strict=True))


def test_sampled_blocks_match_the_full_image_percentiles(utm_image: Path) -> None:
    """utm fixture: no overviews, so a grid of internal blocks is read; within 5% of each band's range."""
    with rasterio.open(utm_image) as src:
        assert not src.overviews(1)
    stretch = inspect_image(utm_image).stretch
    assert stretch is not None
    assert stretch.bands == (3, 2, 1)  # write_scene names its bands blue, green, red, nir
    assert_close_to_full_image(stretch, utm_image, 0.05)


@pytest.mark.parametrize("size", [(1000, 700), (300, 1100)])
def test_the_sample_holds_the_sampled_blocks_pixels(size: tuple[int, int], tmp_path: Path) -> None:
    """Blocks are read straight into the sample, edge blocks (smaller) included."""
    width, height = size
    path = tmp_path / "blocks.tif"
    rng = np.random.default_rng(7)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 3, "dtype": "uint16"}
    profile |= {"tiled": True, "blockxsize": 256, "blockysize": 256, "crs": "EPSG:32633"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(rng.integers(0, 60000, (3, height, width), dtype=np.uint16))
    with rasterio.open(path) as src:
        sample = read_statistics_sample(src, (3, 1))
        windows = sample_windows(width, height, 256, 256)
        expected = np.concatenate([src.read((3, 1), window=w).reshape(2, -1) for w in windows], axis=1)
    assert any(w.width < 256 or w.height < 256 for w in windows)
    np.testing.assert_array_equal(sample[:, 0, :], expected)


@pytest.mark.parametrize("fixture", ["cog_image", "jp2_image"])
def test_decimated_read_of_overviews_matches_the_full_image(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    path = request.getfixturevalue(fixture)
    with rasterio.open(path) as src:
        assert src.overviews(1)
        stretch = compute_stretch(src)
    assert_close_to_full_image(stretch, path, 0.02)


def test_nodata_pixels_are_left_out(holes_image: Path) -> None:
    stretch = inspect_image(holes_image).stretch
    assert stretch is not None
    assert stretch.bands == (1,)
    # 36% of the image is -9999: counted, it would be the 2nd percentile.
    assert stretch.low[0] > 50.0
    assert_close_to_full_image(stretch, holes_image, 0.02)


def test_uint8_rgb(rgb_image: Path) -> None:
    stretch = inspect_image(rgb_image).stretch
    assert stretch is not None
    assert stretch.bands == (1, 2, 3)
    assert_close_to_full_image(stretch, rgb_image, 0.02)


def test_every_block_column_and_row_of_a_small_image_is_sampled(tmp_path: Path) -> None:
    """Regression: an image 2 blocks wide had only its first block column sampled (plus the last block),
    so a bright top-right quarter was missing from the statistics."""
    data = ramp(1, 512, 512, "uint16") % 100
    data[:, :256, 256:] = 10_000
    path = write_raster(
        tmp_path / "quarter.tif",
        data,
        crs="EPSG:32633",
        transform=UTM_TRANSFORM,
        tiled=True,
        blockxsize=256,
        blockysize=256,
    )
    stretch = inspect_image(path).stretch
    assert stretch is not None
    assert stretch.high == (10_000.0,)
    assert_close_to_full_image(stretch, path, 0.02)


@pytest.mark.parametrize(("blocks_x", "blocks_y"), [(1, 1), (2, 2), (3, 3), (4, 4), (2, 3), (4, 1)])
def test_images_of_at_most_four_blocks_a_side_are_sampled_whole(blocks_x: int, blocks_y: int) -> None:
    windows = sample_windows(blocks_x * 256 - 10, blocks_y * 256 - 10, 256, 256)
    cells = {(int(w.row_off) // 256, int(w.col_off) // 256) for w in windows}
    assert cells == {(row, col) for row in range(blocks_y) for col in range(blocks_x)}
    assert all(w.width > 0 and w.height > 0 for w in windows)


def test_large_images_sample_a_spread_grid_and_the_last_block() -> None:
    windows = sample_windows(40 * 512, 30 * 512 + 7, 512, 512)
    cells = {(int(w.row_off) // 512, int(w.col_off) // 512) for w in windows}
    assert len(cells) == 17
    assert (30, 39) in cells  # the last (partial) block: where a truncated file is missing data
    assert max(col for _, col in cells - {(30, 39)}) >= 20 and max(row for row, _ in cells - {(30, 39)}) >= 15
    last = next(w for w in windows if int(w.row_off) == 30 * 512)
    assert (last.width, last.height) == (512, 7)


@pytest.fixture(scope="module")
def band_files(imagery_dir: Path) -> dict[str, Path]:
    grid = {"crs": "EPSG:32633", "transform": UTM_TRANSFORM}
    files = {
        "bgrn": write_raster(imagery_dir / "bgrn.tif", ramp(4, 32, 32, "uint16"), **grid),
        "described": write_raster(
            imagery_dir / "described.tif", ramp(4, 32, 32, "uint16"), photometric="MINISBLACK", **grid
        ),
        "four": write_raster(imagery_dir / "four.tif", ramp(4, 32, 32, "uint16"), **grid),
        "two": write_raster(imagery_dir / "two.tif", ramp(2, 32, 32, "uint16"), **grid),
        "one": write_raster(imagery_dir / "one.tif", ramp(1, 32, 32, "uint16"), **grid),
    }
    with rasterio.open(files["bgrn"], "r+") as dst:
        dst.colorinterp = [ColorInterp.blue, ColorInterp.green, ColorInterp.red, ColorInterp.undefined]
    with rasterio.open(files["described"], "r+") as dst:
        dst.descriptions = ("nir", "Blue", "Green", " RED ")
    return files


@pytest.mark.parametrize(
    ("name", "bands"),
    [
        ("bgrn", (3, 2, 1)),  # colour interpretation says where red, green and blue are
        ("described", (4, 3, 2)),  # band descriptions do (case and spaces ignored)
        ("four", (1, 2, 3)),  # neither: the first three bands
        ("two", (1,)),  # fewer than three: band 1
        ("one", (1,)),
    ],
)
def test_display_band_choice(band_files: dict[str, Path], name: str, bands: tuple[int, ...]) -> None:
    with rasterio.open(band_files[name]) as src:
        assert choose_display_bands(src) == bands
    stretch = inspect_image(band_files[name]).stretch
    assert stretch is not None
    assert stretch.bands == bands
    assert len(stretch.low) == len(stretch.high) == len(bands)


def test_stretch_of_chosen_bands_follows_their_own_values(band_files: dict[str, Path]) -> None:
    """ramp() offsets band b by 10 * (b - 1): the stretch of (3, 2, 1) is ordered accordingly."""
    with rasterio.open(band_files["bgrn"]) as src:
        stretch = compute_stretch(src)
        explicit = compute_stretch(src, bands=(4,))
    assert stretch.low[0] - stretch.low[2] == pytest.approx(20.0, abs=1.0)
    assert explicit.bands == (4,)
    assert explicit.low[0] - stretch.low[2] == pytest.approx(30.0, abs=1.0)


def test_all_nodata_image_gives_an_empty_stretch(tmp_path: Path) -> None:
    data = np.full((1, 64, 64), rasters.NODATA, dtype=np.float32)
    path = write_raster(
        tmp_path / "blank.tif", data, crs="EPSG:32633", transform=UTM_TRANSFORM, nodata=rasters.NODATA
    )
    stretch = inspect_image(path).stretch
    assert stretch == DisplayStretch(bands=(1,), low=(0.0,), high=(0.0,))


def test_apply_maps_low_to_0_and_high_to_255() -> None:
    stretch = DisplayStretch(bands=(1, 2), low=(100.0, 5.0), high=(200.0, 5.0))
    data = np.array([[[50.0, 100.0, 150.0, 200.0, 300.0, np.nan]], [[5.0, 6.0, 4.0, 5.0, 5.0, 5.0]]])
    out = stretch.apply(data)
    assert out.dtype == np.uint8
    assert out[0, 0].tolist() == [0, 0, 127, 255, 255, 0]
    assert out[1, 0].tolist() == [0] * 6  # high == low: no contrast to stretch, not a division by zero


def test_valid_mask() -> None:
    ints = np.array([[[0, 1]], [[0, 0]]], dtype=np.uint16)
    assert valid_mask(ints, None).tolist() == [[True, True]]
    assert valid_mask(ints, 0).tolist() == [[False, True]]  # valid where any band holds data
    floats = np.array([[[np.nan, 1.0, -9999.0]]], dtype=np.float32)
    assert valid_mask(floats, None).tolist() == [[False, True, True]]
    assert valid_mask(floats, float("nan")).tolist() == [[False, True, True]]
    assert valid_mask(floats, -9999.0).tolist() == [[False, True, False]]


@settings(max_examples=300, deadline=None)
@given(
    dtype=st.sampled_from(["uint8", "int8", "uint16", "int16"]),
    size=st.integers(1, 3000),
    spread=st.integers(1, 65535),
    q=st.lists(st.floats(0.0, 100.0), min_size=1, max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_histogram_percentiles_are_numpys(
    dtype: str, size: int, spread: int, q: list[float], seed: int
) -> None:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    low = int(rng.integers(info.min, info.max, endpoint=True))
    values = rng.integers(low, min(info.max, low + spread), size, endpoint=True).astype(dtype)
    assert percentiles(values, tuple(q)) == tuple(float(v) for v in np.percentile(values, q))
