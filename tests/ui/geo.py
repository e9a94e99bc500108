"""Where the browser tests clicked, in chip pixels and in lon/lat, from the chip's own GeoTIFF georeferencing
(its affine transform and CRS: independent of the footprint the web UI works from)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import rasterio
from pyproj import Transformer
from sqlalchemy import select

from geo_label.db.models import CHIPS
from tests import pg


@dataclass(frozen=True)
class ChipGeo:
    path: str
    width: int
    height: int

    @classmethod
    def of(cls, db: pg.TestDatabase, chip_id: uuid.UUID | str) -> ChipGeo:
        with db.as_system() as session:
            row = session.execute(
                select(CHIPS.c.path, CHIPS.c.width, CHIPS.c.height).where(
                    CHIPS.c.id == uuid.UUID(str(chip_id))
                )
            ).one()
        return cls(path=row.path, width=row.width, height=row.height)

    def lonlat(self, col: float, row: float) -> tuple[float, float]:
        with rasterio.open(self.path) as ds:
            x, y = ds.transform @ (col, row)
            lon, lat = Transformer.from_crs(ds.crs, "EPSG:4326", always_xy=True).transform(x, y)
        return float(lon), float(lat)

    def pixel(self, lon: float, lat: float) -> tuple[float, float]:
        with rasterio.open(self.path) as ds:
            x, y = Transformer.from_crs("EPSG:4326", ds.crs, always_xy=True).transform(lon, lat)
            col, row = ~ds.transform @ (x, y)
        return float(col), float(row)


def screen_point(
    box: dict[str, Any], chip_box: list[float], geo: ChipGeo, fx: float, fy: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The page position of the chip pixel at fractions (fx, fy) of the chip, and that chip pixel.

    ``box`` is the map element's bounding box on the page, ``chip_box`` the chip's [left, top, right, bottom]
    inside it (the page's data-chip-box)."""
    left, top, right, bottom = chip_box
    x = box["x"] + left + fx * (right - left)
    y = box["y"] + top + fy * (bottom - top)
    col = (x - box["x"] - left) / (right - left) * geo.width
    row = (y - box["y"] - top) / (bottom - top) * geo.height
    return (x, y), (col, row)
