"""How pixels reach the ground: geotransform, GCPs through a warped VRT, or nothing (refused)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import from_origin
from rasterio.vrt import WarpedVRT
from shapely.geometry import Point

from imagery import Georeferencing, NotGeoreferencedError, inspect_image, open_raster
from tests.imagery.conftest import ramp, write_raster

#: The GCPs of tests.rasters.gcps_only (400 x 300 pixels): (lon, lat) at the four corners.
GCP_CORNERS = [(10.00, 50.00), (10.05, 50.01), (9.99, 49.97), (10.04, 49.98)]
#: About one pixel of that image on the ground, in degrees.
GCP_PIXEL = 0.05 / 400


def test_gcp_image_is_read_through_a_warped_vrt(gcp_image: Path) -> None:
    with open_raster(gcp_image) as raster:
        assert raster.georeferencing is Georeferencing.GCPS
        assert isinstance(raster.dataset, WarpedVRT)
        assert raster.dataset is not raster.source
        assert raster.source.transform.is_identity
        assert len(raster.source.gcps[0]) == 4
        assert raster.dataset.crs == CRS.from_epsg(4326)
        assert not raster.dataset.transform.is_identity
        assert raster.dataset.read(1).any()
        vrt, source = raster.dataset, raster.source
    assert vrt.closed and source.closed


def test_gcp_image_footprint_is_close_to_the_gcps(gcp_image: Path) -> None:
    info = inspect_image(gcp_image)
    assert info.georeferencing is Georeferencing.GCPS
    assert info.to_dict()["georeferencing"].startswith("gcps")
    assert info.epsg == 4326
    west, south, east, north = info.footprint.bounds
    lons, lats = zip(*GCP_CORNERS, strict=True)
    assert west == pytest.approx(min(lons), abs=2 * GCP_PIXEL)
    assert east == pytest.approx(max(lons), abs=2 * GCP_PIXEL)
    assert south == pytest.approx(min(lats), abs=2 * GCP_PIXEL)
    assert north == pytest.approx(max(lats), abs=2 * GCP_PIXEL)
    for lon, lat in GCP_CORNERS:
        assert info.footprint.buffer(2 * GCP_PIXEL).contains(Point(lon, lat))
    # The warped grid is no coarser than the source: 0.05 degree over 400 columns at 50N is ~8.9 m.
    assert 4.0 < info.gsd_m[0] < 9.0 and 4.0 < info.gsd_m[1] < 11.2
    assert info.stretch is not None and info.stretch.bands == (1,)


def write_gcps(path: Path, gcps: list[GroundControlPoint]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="GTiff", width=100, height=100, count=1, dtype="uint8") as dst:
            dst.write(ramp(1, 100, 100))
            dst.gcps = (gcps, CRS.from_epsg(4326))
    return path


@pytest.mark.parametrize(
    "gcps",
    [
        [GroundControlPoint(r, c, 10.0, 50.0) for r, c in ((0, 0), (0, 100), (100, 0))],  # all on one point
        [GroundControlPoint(r, r, 10.0 + r / 1000, 50.0 + r / 1000) for r in (0, 50, 100)],  # on one line
    ],
    ids=["coincident", "collinear"],
)
def test_unsolvable_gcps_are_not_georeferencing(tmp_path: Path, gcps: list[GroundControlPoint]) -> None:
    """Regression: GDAL's CPLE_AppDefinedError escaped (an internal error on the CLI) instead of this."""
    path = write_gcps(tmp_path / "bad_gcps.tif", gcps)
    with pytest.raises(NotGeoreferencedError, match="gcps cannot be turned into a grid"):
        inspect_image(path)


def test_plain_png_is_refused(png_image: Path) -> None:
    with pytest.raises(NotGeoreferencedError) as raised:
        inspect_image(png_image)
    message = str(raised.value)
    assert message.startswith(f"{png_image}: no georeferencing")
    assert "gdal_translate" in message and "\n" not in message


@pytest.mark.parametrize(
    ("crs", "transform"),
    [
        (None, None),  # a plain TIFF
        (None, from_origin(10.0, 50.0, 1e-4, 1e-4)),  # a grid, but in no known CRS
        ("EPSG:4326", None),  # a CRS, but no grid
    ],
    ids=["nothing", "transform-without-crs", "crs-without-transform"],
)
def test_tiff_without_usable_georeferencing_is_refused(
    tmp_path: Path, crs: str | None, transform: rasterio.Affine | None
) -> None:
    path = write_raster(tmp_path / "plain.tif", np.ones((1, 8, 8), np.uint8), crs=crs, transform=transform)
    with pytest.raises(NotGeoreferencedError), open_raster(path):
        pass
