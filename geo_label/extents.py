"""Where and since when a project's annotations lie, as a reader may know it (OGC collection extents)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_label.db.access import readable
from geo_label.db.context import Caller
from geo_label.db.models import ANNOTATION_EXTENTS


@dataclass(frozen=True)
class Extent:
    bbox: list[float]  # west, south, east, north
    first: datetime | None = None  # the span's start; it is open at its end: the collection is being labeled


def project_extents(
    session: Session, caller: Caller, project_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Extent]:
    """Per project, the box and time span of the annotations of the markings the caller may read (only
    those): the union of their rows in ``annotation_extents`` (migration 0013), so no annotation is read.
    The rows only grow (a deleted annotation's box stays), and the span is open at its end."""
    if not project_ids:
        return {}
    e = ANNOTATION_EXTENTS.c
    query = (
        select(e.project_id, func.min(e.west), func.min(e.south), func.max(e.east), func.max(e.north))
        .add_columns(func.min(e.first_at))
        .where(e.project_id.in_(project_ids), readable(ANNOTATION_EXTENTS, caller))
        .group_by(e.project_id)
    )
    return {
        project_id: Extent([float(west), float(south), float(east), float(north)], first)
        for project_id, west, south, east, north, first in session.execute(query)
    }
