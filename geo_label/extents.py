"""Where and when a project's labels lie, as a reader may know it (OGC collection extents).

Where: the box of the annotations of the markings the reader may read, or, before any, of the imagery they
may read (so QGIS's "zoom to layer" shows the scene, not the globe). When: the span of the acquisition times
of that imagery (what the labels describe), else the time labeling began, open at its end."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_label.db.access import readable
from geo_label.db.context import Caller
from geo_label.db.models import ANNOTATION_EXTENTS, IMAGES


@dataclass(frozen=True)
class Extent:
    bbox: list[float]  # west, south, east, north
    start: datetime | None = None
    end: datetime | None = None  # None: open


def project_extents(
    session: Session, caller: Caller, project_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Extent]:
    """Per project, the extent of what the caller may read (only that): annotations from their rows in
    ``annotation_extents`` (migration 0013), so no annotation is read (the rows only grow: a deleted
    annotation's box stays); imagery from the project's readable images (a few rows)."""
    if not project_ids:
        return {}
    e = ANNOTATION_EXTENTS.c
    labeled = (
        select(e.project_id, func.min(e.west), func.min(e.south), func.max(e.east), func.max(e.north))
        .add_columns(func.min(e.first_at))
        .where(e.project_id.in_(project_ids), readable(ANNOTATION_EXTENTS, caller))
        .group_by(e.project_id)
    )
    boxes: dict[uuid.UUID, list[float]] = {}
    began: dict[uuid.UUID, datetime | None] = {}
    for project_id, west, south, east, north, first in session.execute(labeled):
        boxes[project_id] = [float(west), float(south), float(east), float(north)]
        began[project_id] = first
    i = IMAGES.c
    box = func.ST_Extent(i.footprint)
    imaged = (
        select(i.project_id, func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box))
        .add_columns(func.min(i.acquired_at), func.max(i.acquired_at))
        .where(i.project_id.in_(project_ids), readable(IMAGES, caller))
        .group_by(i.project_id)
    )
    extents: dict[uuid.UUID, Extent] = {}
    for project_id, west, south, east, north, earliest, latest in session.execute(imaged):
        bbox = boxes.get(project_id) or [float(west), float(south), float(east), float(north)]
        if earliest is not None:
            extents[project_id] = Extent(bbox, earliest, latest)
        else:
            extents[project_id] = Extent(bbox, began.get(project_id))
    for project_id, bbox in boxes.items():  # labels on imagery the caller may not read: never its times
        extents.setdefault(project_id, Extent(bbox, began[project_id]))
    return extents
