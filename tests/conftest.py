from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Tests import the helper factories as `tests.rasters`; the repository root must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PROJ_NETWORK", "OFF")

from tests import rasters

pytest_plugins = ["tests.pg"]

# CI machines are shared and noisy: a per-example deadline would make property tests flaky, not stricter.
settings.register_profile("geo-label", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("geo-label")


@pytest.fixture(scope="session")
def raster_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rasters")


@pytest.fixture(scope="session")
def utm_image(raster_dir: Path) -> Path:
    return rasters.utm_uint16(raster_dir / "utm_uint16.tif")


@pytest.fixture(scope="session")
def rgb_image(raster_dir: Path) -> Path:
    return rasters.rgb_wgs84(raster_dir / "rgb_wgs84.tif")


@pytest.fixture(scope="session")
def holes_image(raster_dir: Path) -> Path:
    return rasters.float_with_holes(raster_dir / "float_holes.tif")


@pytest.fixture(scope="session")
def gcp_image(raster_dir: Path) -> Path:
    return rasters.gcps_only(raster_dir / "gcps.tif")


@pytest.fixture(scope="session")
def png_image(raster_dir: Path) -> Path:
    return rasters.plain_png(raster_dir / "plain.png")


@contextmanager
def embedded_home() -> Iterator[Path]:
    """A data directory for an embedded cluster, which the postgres user can reach when the tests run as root
    (tmp_path is 0700 root, and GeoLabel refuses one others may read); the cluster is stopped and the
    directory removed afterwards."""
    from geo_label.db.embedded import EmbeddedCluster, EmbeddedDatabaseError

    home = Path(tempfile.mkdtemp(dir="/tmp", prefix="geo-label-pg-"))
    home.chmod(0o711)  # traversable, as GeoLabel makes a data directory; never readable by others
    try:
        yield home
    finally:
        with suppress(EmbeddedDatabaseError):
            EmbeddedCluster(home / "postgres").stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    with embedded_home() as home:
        yield home


@pytest.fixture
def second_embedded_data_dir() -> Iterator[Path]:
    """Another one, for a second installation (a restore onto a fresh host)."""
    with embedded_home() as home:
        yield home
