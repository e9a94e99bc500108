"""Images georeferenced only by RPCs are read, inspected and tiled through a warped VRT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.rpc import RPC

from imagery import Georeferencing, inspect_image
from tiling import TileParameters, tile_image


@pytest.fixture(scope="module")
def rpc_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linear RPC model: column = 200 + 200 (lon - 10) / 0.02, row = 150 - 150 (lat - 50) / 0.01."""
    path = tmp_path_factory.mktemp("rpc") / "rpc.tif"
    width, height = 400, 300
    rpc = RPC(
        height_off=0, height_scale=100, lat_off=50.0, lat_scale=0.01, long_off=10.0, long_scale=0.02,
        line_off=150, line_scale=150, line_num_coeff=[0, 0, -1] + [0] * 17, line_den_coeff=[1] + [0] * 19,
        samp_off=200, samp_scale=200, samp_num_coeff=[0, 1] + [0] * 18, samp_den_coeff=[1] + [0] * 19,
    )  # fmt: skip
    data = (np.indices((height, width)).sum(axis=0) % 256).astype(np.uint8)[None]
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype="uint8") as dst:
        dst.write(data)
        dst.rpcs = rpc
    return path


def test_rpc_image_is_inspected_through_a_warped_vrt(rpc_image: Path) -> None:
    info = inspect_image(rpc_image)
    assert info.georeferencing is Georeferencing.RPCS
    west, south, east, north = info.footprint.bounds
    assert west == pytest.approx(9.98, abs=1e-3) and east == pytest.approx(10.02, abs=1e-3)
    assert south == pytest.approx(49.99, abs=1e-3) and north == pytest.approx(50.01, abs=1e-3)


def test_rpc_image_tiles(rpc_image: Path, tmp_path: Path) -> None:
    summary = tile_image(rpc_image, tmp_path, TileParameters(size=128, overlap=0))
    assert summary.chips_written > 0


def test_pixel_coordinates_go_through_the_rpcs(rpc_image: Path) -> None:
    """Model output in the raw scene's pixels (issue 13) lands where the RPC model puts it (within a pixel:
    GDAL counts pixel corners, the RPC model pixel centres)."""
    from imagery.pixels import pixel_to_lonlat

    to_lonlat = pixel_to_lonlat(rpc_image)
    points = to_lonlat(np.array([[300.0, 75.0], [100.0, 225.0]]))
    expected = np.array(
        [[10.0 + 100 * 0.0001, 50.0 + 75 * 0.01 / 150], [10.0 - 100 * 0.0001, 50.0 - 75 * 0.01 / 150]]
    )
    assert np.allclose(points, expected, atol=1e-4)
