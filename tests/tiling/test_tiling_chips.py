"""Chips are exact: georeferencing, pixels, metadata, COG layout, index, previews and ids."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from imagery.footprint import window_footprint
from tests import rasters
from tiling import OutputConflictError, TileParameters, TileSummary, chip_windows, tile_image

PARAMS = TileParameters(size=256, overlap=32)


@pytest.fixture(scope="module")
def utm_tiles(utm_image: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TileSummary]:
    out = tmp_path_factory.mktemp("utm_tiles")
    return out, tile_image(utm_image, out, PARAMS, marking="SECRET//REL TO USA, GBR")


def test_every_chip_is_the_source_window_exactly(
    utm_image: Path, utm_tiles: tuple[Path, TileSummary]
) -> None:
    out, summary = utm_tiles
    index = gpd.read_parquet(out / "index.parquet")
    with rasterio.open(utm_image) as src:
        windows = chip_windows(src.width, src.height, 256, 32)
        assert summary.chips_written == len(index) == len(windows)
        for row in index.itertuples():
            with rasterio.open(out / row.path) as chip:
                assert (chip.width, chip.height, chip.count) == (256, 256, src.count)
                assert chip.dtypes == src.dtypes and chip.nodata == src.nodata and chip.crs == src.crs
                window = Window(row.col_off, row.row_off, 256, 256)
                np.testing.assert_array_equal(chip.read(), src.read(window=window))
                for r, c in [(0, 0), (255, 0), (0, 255), (17, 203)]:
                    assert chip.xy(r, c) == src.xy(row.row_off + r, row.col_off + c)
                assert chip.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
                assert chip.tags()["GEO_LABEL_CHIP_ID"] == row.chip_id
                assert chip.tags()["GEO_LABEL_MARKING"] == "SECRET//REL TO USA, GBR"


def test_index_is_geoparquet_with_footprints_in_wgs84(
    utm_image: Path, utm_tiles: tuple[Path, TileSummary]
) -> None:
    out, _ = utm_tiles
    index = gpd.read_parquet(out / "index.parquet")
    expected = {"chip_id", "path", "preview_path", "row_off", "col_off", "width", "height", "valid_fraction"}
    assert expected <= set(index.columns)
    assert index.crs.to_epsg() == 4326
    assert list(zip(index.row_off, index.col_off, strict=True)) == sorted(
        zip(index.row_off, index.col_off, strict=True)
    )
    with rasterio.open(utm_image) as src:
        for row in index.head(5).itertuples():
            footprint = window_footprint(src.transform, src.crs.to_wkt(), row.col_off, row.row_off, 256, 256)
            assert row.geometry.equals_exact(footprint, 1e-9)
    assert (index.valid_fraction == 1.0).all()


def test_previews_are_8_bit_images_of_the_chip(utm_tiles: tuple[Path, TileSummary]) -> None:
    out, _ = utm_tiles
    row = next(gpd.read_parquet(out / "index.parquet").itertuples())
    with rasterio.open(out / row.preview_path) as preview:
        assert preview.driver == "JPEG" and preview.dtypes[0] == "uint8" and preview.count == 3
        assert (preview.width, preview.height) == (256, 256)
        assert preview.read().std() > 5, "stretched to a visible range, not flat"
    assert not list((out / "previews").glob("*.aux.xml"))


def test_chip_ids_are_deterministic(
    utm_image: Path, utm_tiles: tuple[Path, TileSummary], tmp_path: Path
) -> None:
    out, _ = utm_tiles
    tile_image(utm_image, tmp_path, PARAMS, marking="SECRET//REL TO USA, GBR")
    first = gpd.read_parquet(out / "index.parquet").chip_id.tolist()
    assert gpd.read_parquet(tmp_path / "index.parquet").chip_id.tolist() == first
    other = tile_image(utm_image, tmp_path / "other", TileParameters(size=256, overlap=16))
    assert set(gpd.read_parquet(other.index_path).chip_id).isdisjoint(first), "other parameters, other ids"


def test_a_finished_run_run_again_does_no_work(utm_image: Path, utm_tiles: tuple[Path, TileSummary]) -> None:
    out, _ = utm_tiles
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = tile_image(utm_image, out, PARAMS, marking="SECRET//REL TO USA, GBR")
    assert again.already_complete and again.chips_written == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_other_parameters_into_the_same_folder_are_refused(
    utm_image: Path, utm_tiles: tuple[Path, TileSummary]
) -> None:
    out, _ = utm_tiles
    with pytest.raises(OutputConflictError, match="other parameters"):
        tile_image(utm_image, out, TileParameters(size=128, overlap=0))


def test_nodata_chips_below_min_valid_are_skipped_and_counted(holes_image: Path, tmp_path: Path) -> None:
    default = tile_image(holes_image, tmp_path / "default", TileParameters(size=200, overlap=0))
    assert default.chips_skipped == 9, "the 600 x 600 empty corner holds 3 x 3 fully empty chips"
    assert default.chips_written == 25 - 9
    strict = tile_image(
        holes_image, tmp_path / "strict", TileParameters(size=200, overlap=0, min_valid=0.9999)
    )
    assert strict.chips_skipped > default.chips_skipped
    index = gpd.read_parquet(strict.index_path)
    assert (index.valid_fraction >= 0.9999).all()
    with (
        rasterio.open(holes_image) as src,
        rasterio.open(default.out_dir / "chips/r0000000_c0000600.tif") as chip,
    ):
        assert chip.nodata == src.nodata == rasters.NODATA
        np.testing.assert_array_equal(chip.read(), src.read(window=Window(600, 0, 200, 200)))


def test_an_image_smaller_than_a_chip_gives_one_chip_padded_with_nodata(
    holes_image: Path, tmp_path: Path
) -> None:
    summary = tile_image(holes_image, tmp_path, TileParameters(size=1024, overlap=64))
    assert summary.chips_total == 1 and summary.chips_written == 1
    with rasterio.open(holes_image) as src, rasterio.open(tmp_path / "chips/r0000000_c0000000.tif") as chip:
        assert (chip.width, chip.height) == (1024, 1024)
        data = chip.read(1)
        np.testing.assert_array_equal(data[:1000, :1000], src.read(1))
        assert (data[1000:, :] == rasters.NODATA).all() and (data[:, 1000:] == rasters.NODATA).all()
        assert chip.transform == src.transform


def test_padding_without_nodata_is_masked(rgb_image: Path, tmp_path: Path) -> None:
    summary = tile_image(rgb_image, tmp_path, TileParameters(size=1024, overlap=0))
    with rasterio.open(tmp_path / "chips/r0000000_c0000000.tif") as chip:
        mask = chip.dataset_mask()
        assert mask[:500, :700].all() and not mask[500:, :].any() and not mask[:, 700:].any()
    index = gpd.read_parquet(summary.index_path)
    assert index.valid_fraction.iloc[0] == pytest.approx(700 * 500 / 1024**2)


def test_gcp_images_are_tiled_through_the_warped_view(gcp_image: Path, tmp_path: Path) -> None:
    summary = tile_image(gcp_image, tmp_path, TileParameters(size=128, overlap=0))
    assert summary.chips_written > 0
    index = gpd.read_parquet(summary.index_path)
    lon_min, lat_min, lon_max, lat_max = index.total_bounds
    assert 9.98 < lon_min < lon_max < 10.06 and 49.96 < lat_min < lat_max < 50.02
