"""Labels in a chip's pixel coordinates: (column, row) from the chip's top-left corner, x to the right, y
down, as COCO, YOLO and rasterio's rasterize take them."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from geo_label.datasets.source import DatasetChip
from imagery.footprint import transformer_to_wgs84


@lru_cache(maxsize=64)
def _from_wgs84(crs_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(4326), CRS.from_wkt(crs_wkt), always_xy=True)


def chip_affine(chip: DatasetChip) -> Affine:
    """The chip's own geotransform: its image's, moved to the chip's window."""
    transform: Affine = chip.transform * Affine.translation(chip.col_off, chip.row_off)
    return transform


def to_pixels(chip: DatasetChip, geometries: list[BaseGeometry]) -> list[BaseGeometry]:
    """``geometries`` (EPSG:4326) on the chip's pixel grid, clipped to the chip (may come out empty).

    Longitudes are first brought next to the chip centre's (a label stored split at the antimeridian lands in
    one piece), then projected into the image's CRS.
    """
    if not geometries:
        return []
    transformer = _from_wgs84(chip.crs_wkt)
    affine = chip_affine(chip)
    inverse = ~affine
    centre = reference_longitude(chip.crs_wkt, affine * (chip.width / 2, chip.height / 2))

    def project(coords: np.ndarray) -> np.ndarray:
        lon = coords[:, 0] + 360.0 * np.round((centre - coords[:, 0]) / 360.0)
        x, y = transformer.transform(lon, coords[:, 1])
        col = inverse.a * np.asarray(x) + inverse.b * np.asarray(y) + inverse.c
        row = inverse.d * np.asarray(x) + inverse.e * np.asarray(y) + inverse.f
        return np.column_stack([col, row])

    shapes = shapely.transform(np.asarray(geometries, dtype=object), project)
    box = shapely.box(0.0, 0.0, float(chip.width), float(chip.height))
    clipped = shapely.intersection(shapely.make_valid(shapes), box)
    return list(clipped)


def reference_longitude(crs_wkt: str, centre: tuple[float, float]) -> float:
    """The longitude of a point given in the image's CRS, as the image counts it: past 180 for a geographic
    image whose grid runs past 180 (its footprint, stored split at 180, has no such centre)."""
    lon, _ = transformer_to_wgs84(crs_wkt).transform(*centre)
    return float(lon)
