"""Chips: listing with spatial and status filters, single chips, previews."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from geo_label.db.access import readable
from geo_label.db.context import Caller
from geo_label.db.models import CHIPS
from geo_label.errors import InvalidInputError, NotFoundError


@dataclass(frozen=True)
class BBox:
    """A lon/lat box; west > east crosses the antimeridian (RFC 7946 section 5.2)."""

    west: float
    south: float
    east: float
    north: float

    @classmethod
    def parse(cls, text: str) -> BBox:
        try:
            west, south, east, north = (float(v) for v in text.split(","))
        except ValueError:
            raise InvalidInputError("bbox must be four numbers: minlon,minlat,maxlon,maxlat") from None
        if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
            raise InvalidInputError(
                "bbox must lie within -180..180 longitude and -90..90 latitude, south <= north"
            )
        return cls(west, south, east, north)

    def envelopes(self) -> list[tuple[float, float, float, float]]:
        if self.west <= self.east:
            return [(self.west, self.south, self.east, self.north)]
        return [(self.west, self.south, 180.0, self.north), (-180.0, self.south, self.east, self.north)]


def bbox_filter(column: Any, bbox: BBox) -> ColumnElement[bool]:
    """``geom && envelope AND ST_Intersects(geom, envelope)``: the && lets the GiST index serve the query, the
    exact test keeps only real intersections (MARKINGS.md section 6 on indexes under RLS)."""
    parts = []
    for west, south, east, north in bbox.envelopes():
        envelope = func.ST_MakeEnvelope(west, south, east, north, 4326)
        parts.append(and_(column.op("&&")(envelope), func.ST_Intersects(column, envelope)))
    return parts[0] if len(parts) == 1 else parts[0] | parts[1]


def chip_query(
    caller: Caller,
    *,
    project_id: uuid.UUID | None = None,
    image_id: uuid.UUID | None = None,
    status: str | None = None,
    bbox: BBox | None = None,
) -> Any:
    query = select(CHIPS).where(readable(CHIPS, caller))
    if project_id is not None:
        query = query.where(CHIPS.c.project_id == project_id)
    if image_id is not None:
        query = query.where(CHIPS.c.image_id == image_id)
    if status is not None:
        query = query.where(CHIPS.c.status == status)
    if bbox is not None:
        query = query.where(bbox_filter(CHIPS.c.footprint, bbox))
    return query


def list_chips(
    session: Session, caller: Caller, *, limit: int, offset: int, **filters: Any
) -> tuple[list[Any], int]:
    query = chip_query(caller, **filters)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(
        query.order_by(CHIPS.c.image_id, CHIPS.c.row_off, CHIPS.c.col_off).limit(limit).offset(offset)
    ).mappings()
    return list(rows), total


def get_chip(session: Session, caller: Caller, chip_id: uuid.UUID) -> Any:
    row = session.execute(chip_query(caller).where(CHIPS.c.id == chip_id)).mappings().one_or_none()
    if row is None:
        raise NotFoundError("chip")
    return row
