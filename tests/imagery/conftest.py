"""Fixtures of the imagery tests: real files written with rasterio, beyond those in tests/rasters.py."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.shutil  # tests.rasters.plain_png calls rasterio.shutil.copy without importing it
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import from_origin

from imagery.synthetic import SceneSpec, write_scene
from tests import rasters

#: The UTM 33N grid of tests.rasters.utm_uint16: 10 m pixels from (399960, 4500000).
UTM_TRANSFORM = from_origin(*rasters.UTM_ORIGIN, 10.0, 10.0)


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = "EPSG:4326",
    transform: Affine | None = None,
    driver: str = "GTiff",
    nodata: float | None = None,
    **options: Any,
) -> Path:
    """Write ``data`` (bands x rows x cols) as it is; ``crs=None`` and ``transform=None`` write neither."""
    profile: dict[str, Any] = {
        "driver": driver,
        "count": data.shape[0],
        "height": data.shape[1],
        "width": data.shape[2],
        "dtype": data.dtype.name,
        **options,
    }
    if crs is not None:
        profile["crs"] = crs
    if transform is not None:
        profile["transform"] = transform
    if nodata is not None:
        profile["nodata"] = nodata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
    return path


def ramp(bands: int, height: int, width: int, dtype: str = "uint8") -> np.ndarray:
    """Distinct, deterministic values per pixel and band (not constant, so stretches are not degenerate)."""
    values = np.arange(bands * height * width, dtype=np.int64).reshape(bands, height, width)
    return (values % 251 + 10 * np.arange(bands)[:, None, None]).astype(dtype)


@pytest.fixture(scope="session")
def imagery_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("imagery")


@pytest.fixture(scope="session")
def jp2_image(imagery_dir: Path) -> Path:
    """Lossless 3-band uint16 JPEG 2000 (GeoJP2) on the UTM 33N grid of the utm fixture, 320 x 240."""
    spec = SceneSpec(
        width=320,
        height=240,
        bands=3,
        seed=4,
        driver="JP2OpenJPEG",
        creation_options={"QUALITY": 100, "REVERSIBLE": "YES", "BLOCKXSIZE": 128, "BLOCKYSIZE": 128},
    )
    return write_scene(imagery_dir / "scene.jp2", spec)


@pytest.fixture(scope="session")
def cog_image(imagery_dir: Path) -> Path:
    """4-band uint16 Cloud Optimized GeoTIFF (overviews included), 700 x 600, UTM 33N 10 m."""
    spec = SceneSpec(
        width=700,
        height=600,
        seed=5,
        driver="COG",
        creation_options={"BLOCKSIZE": 256, "COMPRESS": "DEFLATE", "OVERVIEWS": "AUTO", "OVERVIEW_COUNT": 2},
    )
    return write_scene(imagery_dir / "scene_cog.tif", spec)


@pytest.fixture(scope="session")
def nitf_file(imagery_dir: Path) -> Callable[..., Path]:
    """Factory: a NITF (tests.rasters.nitf) with the given security fields, written once per field set."""
    made: dict[tuple[tuple[str, str], ...], Path] = {}

    def make(**security: str) -> Path:
        key = tuple(sorted(security.items()))
        if key not in made:
            made[key] = rasters.nitf(
                imagery_dir / f"security_{len(made)}.ntf", width=64, height=48, **security
            )
        return made[key]

    return make


def nitf_two_segments(path: Path, first: dict[str, str], second: dict[str, str]) -> Path:
    """A NITF with two image segments: file header and segment 0 from ``first``, segment 1 from ``second``.

    GDAL writes the second segment into the space NUMI=2 reserved, with APPEND_SUBDATASET=YES.
    """
    common = {
        "driver": "NITF",
        "crs": "EPSG:4326",
        "transform": from_origin(44.0, 33.0, 1e-4, 1e-4),
        "ICORDS": "G",
    }
    write_raster(path, ramp(1, 40, 50), NUMI="2", **common, **first)
    write_raster(path, ramp(1, 40, 50) + 1, APPEND_SUBDATASET="YES", **common, **second)
    return path


@pytest.fixture(scope="session")
def crossing_wgs84_image(imagery_dir: Path) -> Path:
    """EPSG:4326, lon 179.5 to 180.5, lat 9.5 to 10 (100 x 50 pixels of 0.01 degree)."""
    return write_raster(
        imagery_dir / "crossing_wgs84.tif", ramp(1, 50, 100), transform=from_origin(179.5, 10.0, 0.01, 0.01)
    )


@pytest.fixture(scope="session")
def crossing_utm60_image(imagery_dir: Path) -> Path:
    """UTM zone 60N (central meridian 177E), x 800 to 860 km at about 9N: straddles 180 degrees."""
    return write_raster(
        imagery_dir / "crossing_utm60.tif",
        ramp(1, 100, 200),
        crs="EPSG:32660",
        transform=from_origin(800_000.0, 1_000_000.0, 300.0, 300.0),
    )


@pytest.fixture(scope="session")
def crossing_utm1_image(imagery_dir: Path) -> Path:
    """UTM zone 1N (central meridian 177W), x 140 to 200 km at about 9N: straddles 180 degrees."""
    return write_raster(
        imagery_dir / "crossing_utm1.tif",
        ramp(1, 100, 200),
        crs="EPSG:32601",
        transform=from_origin(140_000.0, 1_000_000.0, 300.0, 300.0),
    )


#: The keys `geo-label inspect --json` documents (README, issue 2).
INSPECT_JSON_KEYS = {
    "path",
    "driver",
    "width",
    "height",
    "bands",
    "dtype",
    "nodata",
    "crs",
    "transform",
    "georeferencing",
    "footprint",
    "gsd_m",
    "acquired_at",
    "sensor",
    "marking",
    "display",
}
