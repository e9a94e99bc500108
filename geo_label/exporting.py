"""Export a project's labels as GeoJSON for downstream programs, filtered by the caller's access and, when
acting for a partner nation, by releasability to it. Every export is audited with its banner and count."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from geoalchemy2.shape import to_shape
from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased

from access_control import MarkingRegistry, releasable_to
from geo_label import audit
from geo_label.db.access import readable, releasable_filter
from geo_label.db.context import Caller
from geo_label.db.models import ANNOTATIONS, IMAGES, USERS
from geo_label.errors import InvalidInputError
from geo_label.export.geojson import ExportFeature, ExportFormat, ExportHeader, ExportSummary, write_export
from geo_label.markings import marking_of
from geo_label.projects import get_project

BATCH = 2000


def check_recipient(recipient: str | None, registry: MarkingRegistry) -> str | None:
    if recipient is None:
        return None
    country = recipient.strip().upper()
    if country not in registry.countries:
        raise InvalidInputError(
            f"unknown recipient {recipient!r}: give a registered country trigraph, e.g. GBR"
        )
    return country


def export_query(
    caller: Caller, project_id: uuid.UUID, recipient: str | None, statuses: tuple[str, ...]
) -> Any:
    labeler, reviewer = aliased(USERS), aliased(USERS)
    a = ANNOTATIONS
    query = (
        select(
            a,
            IMAGES.c.acquired_at,
            IMAGES.c.sensor,
            labeler.c.username.label("labeler"),
            reviewer.c.username.label("reviewer"),
        )
        .join(IMAGES, IMAGES.c.id == a.c.image_id)
        .join(labeler, labeler.c.id == a.c.created_by)
        .outerjoin(reviewer, reviewer.c.id == a.c.reviewed_by)
        .where(a.c.project_id == project_id, readable(a, caller), readable(IMAGES, caller))
        .order_by(a.c.id)
    )
    if statuses:
        query = query.where(a.c.status.in_(statuses))
    if recipient:
        query = query.where(and_(releasable_filter(a, recipient)))
    return query


def features(session: Session, query: Any, recipient: str | None) -> Iterator[ExportFeature]:
    for row in session.execute(query.execution_options(yield_per=BATCH)).mappings():
        marking = marking_of(row)
        if recipient and not releasable_to(marking, recipient):  # belt and braces over the SQL filter
            continue
        yield ExportFeature(
            id=str(row["id"]),
            geometry=to_shape(row["geometry"]),
            marking=marking,
            properties={
                "class": row["label_class"],
                "attributes": row["attributes"],
                "image_id": str(row["image_id"]),
                "chip_id": str(row["chip_id"]),
                "acquired_at": row["acquired_at"],
                "sensor": row["sensor"],
                "labeler": row["labeler"],
                "reviewer": row["reviewer"],
                "status": row["status"],
                "source": row["source"],
                "confidence": row["confidence"],
                "version": row["version"],
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
            },
        )


def export_project(
    session: Session,
    caller: Caller,
    *,
    project_id: uuid.UUID,
    out: BinaryIO,
    registry: MarkingRegistry,
    fmt: ExportFormat = ExportFormat.GEOJSON,
    recipient: str | None = None,
    statuses: tuple[str, ...] = (),
    spool_dir: Path | None = None,
) -> ExportSummary:
    """Write the project's readable (and, for a recipient, releasable) annotations to ``out``.

    ``spool_dir`` is where the writer keeps features while it computes the banner: classified content, so it
    belongs on the protected data volume (the data directory), not in a shared /tmp.
    """
    project = get_project(session, caller, project_id)
    country = check_recipient(recipient, registry)
    header = ExportHeader(
        project=project["name"], exported_at=datetime.now(UTC), exported_by=caller.username, recipient=country
    )
    query = export_query(caller, project_id, country, statuses)
    summary = write_export(
        features(session, query, country), header, out, fmt, spool_dir=spool_dir, registry=registry
    )
    audit.record(
        session,
        caller,
        "export",
        item_type="project",
        item_id=project_id,
        project_id=project_id,
        marking=summary.banner,
        details={
            "banner": summary.banner.banner(),
            "count": summary.count,
            "recipient": country,
            "format": fmt.value,
        },
    )
    return summary
