"""inspect_image on real GeoTIFF, COG, NITF and JPEG 2000 files: every field of the description."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import rasterio
from pyproj import CRS
from shapely.geometry import shape

from imagery import Georeferencing, ImageInfo, inspect_image, open_raster
from tests import rasters
from tests.imagery.conftest import INSPECT_JSON_KEYS, UTM_TRANSFORM, ramp, write_raster


@pytest.fixture(scope="module")
def utm_info(utm_image: Path) -> ImageInfo:
    return inspect_image(utm_image)


def test_geotiff_header_fields(utm_info: ImageInfo, utm_image: Path) -> None:
    info = utm_info
    assert info.path == utm_image
    assert info.driver == "GTiff"
    assert (info.width, info.height, info.band_count, info.dtype) == (1100, 900, 4, "uint16")
    assert info.nodata is None
    assert info.epsg == 32633
    assert info.crs_name == "WGS 84 / UTM zone 33N"
    assert CRS.from_wkt(info.crs_wkt) == CRS.from_epsg(32633)
    assert info.transform == tuple(UTM_TRANSFORM)[:6]
    assert info.georeferencing is Georeferencing.GEOTRANSFORM
    assert info.source_bytes == 1100 * 900 * 4 * 2


def test_geotiff_acquisition_and_sensor_from_tags(utm_info: ImageInfo) -> None:
    assert utm_info.acquired_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert utm_info.sensor == "SYNTH-1"


@pytest.mark.parametrize("fixture", ["utm_image", "jp2_image", "cog_image", "rgb_image", "holes_image"])
def test_files_other_than_nitf_carry_no_marking(fixture: str, request: pytest.FixtureRequest) -> None:
    info = inspect_image(request.getfixturevalue(fixture), statistics=False)
    assert info.marking is None
    assert info.to_dict()["marking"] is None


def test_cog_is_read_as_a_tiled_geotiff_with_overviews(cog_image: Path) -> None:
    info = inspect_image(cog_image)
    assert info.driver == "GTiff"
    assert (info.width, info.height, info.band_count, info.dtype) == (700, 600, 4, "uint16")
    assert info.epsg == 32633
    assert info.transform == tuple(UTM_TRANSFORM)[:6]
    with rasterio.open(cog_image) as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.overviews(1)
    assert info.stretch is not None
    assert info.stretch.bands == (1, 2, 3)


def test_jpeg2000_georeferenced_through_rasterio(jp2_image: Path) -> None:
    info = inspect_image(jp2_image)
    assert info.driver == "JP2OpenJPEG"
    assert (info.width, info.height, info.band_count, info.dtype) == (320, 240, 3, "uint16")
    assert info.epsg == 32633
    assert info.transform == tuple(UTM_TRANSFORM)[:6]
    assert info.georeferencing is Georeferencing.GEOTRANSFORM
    assert info.gsd_m == pytest.approx((10.0, 10.0), rel=1e-3)
    assert info.acquired_at is None
    assert info.sensor is None
    assert info.marking is None
    assert info.stretch is not None
    assert info.stretch.bands == (1, 2, 3)


def test_nitf_header_fields_acquisition_sensor_and_marking(nitf_file: Callable[..., Path]) -> None:
    path = nitf_file(FSCLAS="S", ISCLAS="S", FSREL="GBR", ISREL="GBR")
    info = inspect_image(path)
    assert info.driver == "NITF"
    assert (info.width, info.height, info.band_count, info.dtype) == (64, 48, 1, "uint8")
    assert info.epsg == 4326
    # ICORDS=G stores the corners in IGEOLO to the arc second, so the grid is only as exact as that.
    arc_second = 1.0 / 3600.0
    assert info.transform[2] == pytest.approx(44.0, abs=arc_second)
    assert info.transform[5] == pytest.approx(33.0, abs=arc_second)
    assert info.acquired_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert info.sensor == "WV03"
    assert info.marking is not None
    assert info.marking.banner() == "SECRET//REL TO USA, GBR"


def test_nodata_and_float_dtype(holes_image: Path) -> None:
    info = inspect_image(holes_image, statistics=False)
    assert info.dtype == "float32"
    assert info.nodata == rasters.NODATA
    assert info.epsg == 32618
    assert info.stretch is None
    assert info.to_dict()["display"] is None


def test_open_raster_closes_what_it_opened(utm_image: Path) -> None:
    with open_raster(utm_image) as raster:
        dataset = raster.dataset
        assert dataset is raster.source
        assert not dataset.closed
    assert dataset.closed


@pytest.mark.parametrize("fixture", ["utm_image", "rgb_image", "gcp_image", "jp2_image"])
def test_to_dict_is_json_with_the_documented_keys(fixture: str, request: pytest.FixtureRequest) -> None:
    info = inspect_image(request.getfixturevalue(fixture))
    data = json.loads(json.dumps(info.to_dict()))
    assert set(data) >= INSPECT_JSON_KEYS
    assert data["bands"] == info.band_count
    assert data["transform"] == list(info.transform)
    assert data["crs"]["epsg"] == info.epsg
    assert data["georeferencing"] == info.georeferencing.value
    assert shape(data["footprint"]).equals(info.footprint)
    assert set(data["gsd_m"]) == {"across", "along"}
    assert info.stretch is not None
    assert data["display"] == {
        "bands": list(info.stretch.bands),
        "low": list(info.stretch.low),
        "high": list(info.stretch.high),
    }


@pytest.mark.parametrize(
    ("tags", "acquired_at", "sensor"),
    [
        ({"ACQUISITION_DATETIME": "2023:07:08 09:10:11"}, datetime(2023, 7, 8, 9, 10, 11, tzinfo=UTC), None),
        (
            {"acquisition_time": "2023-07-08T09:10:11+02:00", "SATELLITE": "S2B"},
            "2023-07-08T07:10:11Z",
            "S2B",
        ),
        (
            {"ACQUISITION_DATETIME": "20230708091011", "PLATFORM": "P-1"},
            datetime(2023, 7, 8, 9, 10, 11, tzinfo=UTC),
            "P-1",
        ),
        ({"ACQUISITION_DATETIME": "last tuesday", "SENSOR": "  "}, None, None),
        ({}, None, None),
    ],
)
def test_acquisition_time_and_sensor_tags(
    tmp_path: Path, tags: dict[str, str], acquired_at: datetime | str | None, sensor: str | None
) -> None:
    path = write_raster(
        tmp_path / "tagged.tif",
        ramp(1, 16, 16),
        transform=rasterio.transform.from_origin(10.0, 50.0, 1e-4, 1e-4),
    )
    with rasterio.open(path, "r+") as dst:
        dst.update_tags(**tags)
    info = inspect_image(path, statistics=False)
    if isinstance(acquired_at, str):
        acquired_at = datetime.fromisoformat(acquired_at)
    assert info.acquired_at == acquired_at
    assert info.acquired_at is None or info.acquired_at.tzinfo is not None
    assert info.sensor == sensor


def test_description_does_not_depend_on_statistics(utm_image: Path, utm_info: ImageInfo) -> None:
    quick = inspect_image(utm_image, statistics=False)
    assert quick.stretch is None
    assert quick.footprint.equals(utm_info.footprint)
    assert quick.gsd_m == utm_info.gsd_m
    assert quick.transform == utm_info.transform
