"""An image file's own pixel grid to longitude, latitude: where a model that ran on the scene put things.

Positions are continuous pixel coordinates, (column, row) from the top-left corner of the top-left pixel (as
COCO and GDAL count them). A georeferenced image maps them through its geotransform and CRS; a GCP- or
RPC-referenced one (a raw satellite scene) through its GCPs or RPCs, as GDAL's transformers do, because the
model saw the raw grid, not GeoLabel's resampled chips.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.transform import GCPTransformer, RPCTransformer

from imagery.errors import ImageryError, PixelGridError
from imagery.reader import Georeferencing, classify_georeferencing

Coordinates = Callable[[np.ndarray], np.ndarray]


def _wrapped(lon: np.ndarray) -> np.ndarray:
    """Longitudes into [-180, 180] (a geographic grid may run past 180)."""
    lon = np.asarray(lon, dtype=float)
    return np.where((lon > 180.0) | (lon < -180.0), (lon + 180.0) % 360.0 - 180.0, lon)


def pixel_to_lonlat(path: Path) -> Coordinates:
    """A coordinate function for ``shapely.transform``: (column, row) of ``path``'s pixels to longitude,
    latitude in WGS 84."""
    try:
        with rasterio.open(path) as dataset:
            kind = classify_georeferencing(dataset)
            crs, transform = dataset.crs, dataset.transform
            gcps, gcp_crs = dataset.gcps
            rpcs = dataset.rpcs
    except rasterio.errors.RasterioIOError:
        raise PixelGridError(
            f"{path}: the image's file is not there to map its pixel coordinates; put it back where it was "
            "ingested from"
        ) from None
    except ImageryError:
        raise
    if kind is Georeferencing.RPCS:
        rpc = RPCTransformer(rpcs)

        def through_rpcs(coords: np.ndarray) -> np.ndarray:
            lon, lat = rpc.xy(coords[:, 1], coords[:, 0], offset="ul")
            return np.column_stack([_wrapped(np.asarray(lon)), lat])

        return through_rpcs
    if kind is Georeferencing.GCPS:
        gcp = GCPTransformer(gcps)
        to_wgs84 = Transformer.from_crs(CRS.from_wkt(gcp_crs.to_wkt()), CRS.from_epsg(4326), always_xy=True)

        def through_gcps(coords: np.ndarray) -> np.ndarray:
            x, y = gcp.xy(coords[:, 1], coords[:, 0], offset="ul")
            lon, lat = to_wgs84.transform(np.asarray(x), np.asarray(y))
            return np.column_stack([_wrapped(lon), lat])

        return through_gcps
    affine = Affine(*transform[:6])
    project = Transformer.from_crs(CRS.from_wkt(crs.to_wkt()), CRS.from_epsg(4326), always_xy=True)

    def through_geotransform(coords: np.ndarray) -> np.ndarray:
        col, row = coords[:, 0], coords[:, 1]
        x = affine.a * col + affine.b * row + affine.c
        y = affine.d * col + affine.e * row + affine.f
        lon, lat = project.transform(x, y)
        return np.column_stack([_wrapped(lon), lat])

    return through_geotransform
