"""Export a project's labels as GeoJSON for downstream programs, filtered by the caller's access and, when
acting for a partner nation, by releasability to it. Every export is audited with its banner and count."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import ColumnElement, all_, and_, case, false, literal, select, text, true
from sqlalchemy.orm import Session, aliased

from access_control import Marking, MarkingRegistry, roll_up
from geo_label import audit
from geo_label.annotations import STATUSES
from geo_label.db.access import readable, readable_for
from geo_label.db.bulk import id_array
from geo_label.db.context import Caller
from geo_label.db.models import ANNOTATION_EXTENTS, ANNOTATIONS, IMAGES, MODELS, PREDICTIONS, USERS
from geo_label.errors import InvalidInputError, brief
from geo_label.export.geojson import (
    COLUMNAR_FORMATS,
    EncodedFeatures,
    ExportFeature,
    ExportFormat,
    ExportHeader,
    ExportSummary,
    StreamedExport,
    write_export,
)
from geo_label.export.held import HeldLines, chip_cores, merge_held, with_held
from geo_label.export.merge import DEFAULT_RULE, MergeRule, find_groups, merged_features
from geo_label.export.postgis import LineDecoder, copy_lines, lines_statement
from geo_label.markings import MARKING_COLUMNS, marking_of_values
from geo_label.projects import get_project

BATCH = 2000
#: Decimals of exported coordinates (about 1 cm), for PostGIS's fast lane and the writer alike.
PRECISION = 7


def check_recipient(recipient: str | None, registry: MarkingRegistry) -> str | None:
    if recipient is None:
        return None
    country = recipient.strip().upper()
    if country not in registry.countries:
        raise InvalidInputError(
            f"unknown recipient {brief(recipient)}: give a registered country trigraph, e.g. GBR"
        )
    return country


def export_rows(
    caller: Caller, project_id: uuid.UUID, recipient: str | None, statuses: tuple[str, ...]
) -> Any:
    """The exported annotations with what their features say, oldest first (deterministic; merging writes
    the features near another chip after the others, see geo_label.export.held), filtered by the
    caller's access and, for a recipient, by releasability (the same expressions as every other read)."""
    labeler, reviewer = aliased(USERS), aliased(USERS)
    a, p = ANNOTATIONS, PREDICTIONS
    # Provenance (issue 13): the model whose suggestion the label was accepted from, and whether a person
    # changed it; only from a prediction the reader (and the recipient) may read, else nothing.
    suggested = and_(p.c.id == a.c.prediction_id, readable_for(p, caller, recipient))
    rows = (
        select(
            a.c.id,
            a.c.label_class,
            a.c.attributes,
            a.c.image_id,
            a.c.chip_id,
            IMAGES.c.acquired_at,
            IMAGES.c.sensor,
            labeler.c.username.label("labeler"),
            reviewer.c.username.label("reviewer"),
            a.c.status,
            a.c.source,
            a.c.confidence,
            a.c.version,
            a.c.created_at,
            a.c.updated_at,
            (MODELS.c.name + literal("@") + MODELS.c.version).label("suggested_by"),
            case((p.c.state == "edited", true()), (p.c.state == "accepted", false())).label(
                "suggestion_edited"
            ),
            *(a.c[name] for name in MARKING_COLUMNS),
            a.c.geometry,
        )
        .join(IMAGES, IMAGES.c.id == a.c.image_id)
        .join(labeler, labeler.c.id == a.c.created_by)
        .outerjoin(reviewer, reviewer.c.id == a.c.reviewed_by)
        .outerjoin(p, suggested)
        .outerjoin(MODELS, MODELS.c.id == p.c.model_id)
        .where(*exported(caller, project_id, recipient, statuses))
        .order_by(a.c.created_at, a.c.id)  # the (project_id, created_at, id) index: the first rows at once
    )
    return rows


def exported(
    caller: Caller, project_id: uuid.UUID, recipient: str | None, statuses: tuple[str, ...]
) -> list[ColumnElement[bool]]:
    """Which annotations an export holds (with ``IMAGES`` joined on the annotation's image)."""
    a = ANNOTATIONS
    where = [a.c.project_id == project_id, readable_for(a, caller, recipient), readable(IMAGES, caller)]
    if statuses:
        where.append(a.c.status.in_(statuses))
    return where


def features(
    session: Session, rows: Any, held: Callable[[bytes, bytes | None], None] | None = None
) -> Iterator[EncodedFeatures]:
    """The export's features, rendered by PostgreSQL (see :mod:`geo_label.export.postgis`); with ``held``,
    the rows the select marks as held go there instead."""
    # The datetimes PostgreSQL writes into the JSON are in the session's zone: UTC, whatever the server's.
    session.execute(text("SET LOCAL TimeZone = 'UTC'"))
    decoder = LineDecoder(PRECISION)
    yield from decoder.batches(copy_lines(session, lines_statement(rows, PRECISION)), held)


def feature_properties(row: Any) -> dict[str, Any]:
    """A row's feature properties, as the database lane writes them (for features merged in Python)."""
    return {
        "acquired_at": row.acquired_at,
        "attributes": row.attributes,
        "chip_id": str(row.chip_id),
        "class": row.label_class,
        "confidence": row.confidence,
        "created_at": row.created_at,
        "image_id": str(row.image_id),
        "labeler": row.labeler,
        "reviewer": row.reviewer,
        "sensor": row.sensor,
        "source": row.source,
        "suggested_by": row.suggested_by,
        "suggestion_edited": row.suggestion_edited,
        "status": row.status,
        "updated_at": row.updated_at,
        "version": row.version,
    }


@dataclass
class MergeTally:
    """How many merged features an export wrote (known once its stream is read)."""

    merged: int = 0


def merging_features(
    session: Session, rows: Any, rule: MergeRule | None, project_id: uuid.UUID, spool_dir: Path | None
) -> tuple[Iterator[EncodedFeatures | ExportFeature], MergeTally]:
    """The export's features with every object labeled on several overlapping chips as one (see
    :mod:`geo_label.export.merge` and :mod:`geo_label.export.held`); ``rule`` None: as stored."""
    tally = MergeTally()
    if rule is None:
        return features(session, rows), tally
    cores = chip_cores(session, project_id, rule)

    def stream() -> Iterator[EncodedFeatures | ExportFeature]:
        held = HeldLines(spool_dir)
        try:
            yield from features(session, with_held(rows, cores), held.add)
            rest, merged = merge_held(session, held, rule, LineDecoder(PRECISION))
            tally.merged = len(merged)
            yield from rest
            yield from merged
        finally:
            held.close()

    return stream(), tally


def columnar_export(
    session: Session,
    rows: Any,
    rule: MergeRule | None,
    header: ExportHeader,
    out: BinaryIO,
    registry: MarkingRegistry,
    fmt: ExportFormat,
    spool_dir: Path | None,
) -> tuple[ExportSummary, int]:
    """The export as GeoParquet or GeoPackage: the rows streamed from the database, and the merged
    objects."""
    # Imported here: pyarrow's Parquet module and GDAL cost every other export a third of a second.
    from geo_label.export.geopackage import write_geopackage
    from geo_label.export.geoparquet import write_geoparquet

    groups = find_groups(session, rows, rule) if rule is not None else []
    parts = [member for group in groups for member in group]
    alone = rows.where(ANNOTATIONS.c.id != all_(id_array(parts))) if parts else rows
    merged = merged_features(session, rows, groups, feature_properties)
    streamed = session.execute(alone.execution_options(yield_per=BATCH))
    if fmt is ExportFormat.GPKG:
        return write_geopackage(streamed, merged, header, out, spool_dir=spool_dir, registry=registry), len(
            groups
        )
    return write_geoparquet(streamed, merged, header, out, registry=registry), len(groups)


def export_header(
    session: Session,
    caller: Caller,
    project_id: uuid.UUID,
    registry: MarkingRegistry,
    recipient: str | None,
    statuses: tuple[str, ...],
) -> ExportHeader:
    """Who exports which visible project for whom, the arguments checked."""
    project = get_project(session, caller, project_id)
    country = check_recipient(recipient, registry)
    unknown = sorted(set(statuses) - set(STATUSES))
    if unknown:
        raise InvalidInputError(f"unknown status {brief(unknown[0])}: use {', '.join(STATUSES)}")
    return ExportHeader(
        project=project["name"], exported_at=datetime.now(UTC), exported_by=caller.username, recipient=country
    )


def export_banner(
    session: Session, caller: Caller, project_id: uuid.UUID, recipient: str | None, statuses: tuple[str, ...]
) -> Marking:
    """The roll-up of the markings of what the export holds: its banner, merged or not (a merged object's
    marking is its parts' roll-up). The candidates are the project's markings in ``annotation_extents`` that
    the caller (and the recipient) may read; each counts if one exported row has it (an index probe each,
    ``annotations_marking``), not by reading every row's marking."""
    a, e = ANNOTATIONS, ANNOTATION_EXTENTS
    one = (
        select(a.c.id)
        .join(IMAGES, IMAGES.c.id == a.c.image_id)
        .where(*(a.c[name] == e.c[name] for name in ("project_id", *MARKING_COLUMNS)))
        .where(*exported(caller, project_id, recipient, statuses))
        .limit(1)
    )
    markings = select(*(e.c[name] for name in MARKING_COLUMNS)).where(
        e.c.project_id == project_id, readable_for(e, caller, recipient), one.exists()
    )
    return roll_up(marking_of_values(*values) for values in session.execute(markings))


@dataclass
class ProjectStream:
    """An export of a project read and written as it goes (:func:`stream_project`)."""

    project_id: uuid.UUID
    header: ExportHeader
    writer: StreamedExport
    tally: MergeTally
    merge: MergeRule | None

    def audit(self, session: Session, caller: Caller, action: str, **details: Any) -> None:
        audit_export(
            session,
            caller,
            action,
            self.project_id,
            self.writer.banner,
            recipient=self.header.recipient,
            fmt=self.writer.fmt,
            merge=self.merge,
            **details,
        )


def audit_export(
    session: Session,
    caller: Caller,
    action: str,
    project_id: uuid.UUID,
    banner: Marking,
    *,
    recipient: str | None,
    fmt: ExportFormat,
    merge: MergeRule | None,
    **details: Any,
) -> None:
    """An export's audit record, marked with its banner: for whom, in which format, merged how."""
    audit.record(
        session,
        caller,
        action,
        item_type="project",
        item_id=project_id,
        project_id=project_id,
        marking=banner,
        details={
            "banner": banner.banner(),
            "recipient": recipient,
            "format": fmt.value,
            "merge_iou": merge.iou if merge else None,
            **details,
        },
    )


def stream_project(
    session: Session,
    caller: Caller,
    *,
    project_id: uuid.UUID,
    registry: MarkingRegistry,
    fmt: ExportFormat = ExportFormat.GEOJSON,
    recipient: str | None = None,
    statuses: tuple[str, ...] = (),
    spool_dir: Path | None = None,
    merge: MergeRule | None = DEFAULT_RULE,
) -> ProjectStream:
    """The project's export as GeoJSON (or a text sequence) written as it is read: its banner is computed
    first (:func:`export_banner`), then its features stream (``writer.chunks()``). ``session`` must be
    a snapshot that outlives the call (REPEATABLE READ), so the banner and the features are of one moment;
    the caller audits the export (:meth:`ProjectStream.audit`)."""
    header = export_header(session, caller, project_id, registry, recipient, statuses)
    rows = export_rows(caller, project_id, header.recipient, statuses)
    banner = export_banner(session, caller, project_id, header.recipient, statuses)
    exported, tally = merging_features(session, rows, merge, project_id, spool_dir)
    writer = StreamedExport(exported, header, fmt, banner=banner, precision=PRECISION, registry=registry)
    return ProjectStream(project_id, header, writer, tally, merge)


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
    merge: MergeRule | None = DEFAULT_RULE,
) -> ExportSummary:
    """Write the project's readable (and, for a recipient, releasable) annotations to ``out``, an object
    labeled on overlapping chips as one feature unless ``merge`` is None; audited.

    ``spool_dir`` is where the writer keeps features while it computes the banner: classified content, so it
    belongs on the protected data volume (the data directory), not in a shared /tmp.
    """
    header = export_header(session, caller, project_id, registry, recipient, statuses)
    summary, merged = write_project(
        session, caller, header, project_id, out, registry, fmt, statuses, spool_dir, merge
    )
    audit_export(
        session,
        caller,
        "export",
        project_id,
        summary.banner,
        recipient=header.recipient,
        fmt=fmt,
        merge=merge,
        count=summary.count,
        merged=merged,
    )
    return summary


def write_project(
    session: Session,
    caller: Caller,
    header: ExportHeader,
    project_id: uuid.UUID,
    out: BinaryIO,
    registry: MarkingRegistry,
    fmt: ExportFormat,
    statuses: tuple[str, ...],
    spool_dir: Path | None,
    merge: MergeRule | None,
) -> tuple[ExportSummary, int]:
    """What :func:`export_project` writes (the summary, and how many features were merged), unaudited: for a
    caller that records the act as what it is (a release request, geo_label.releases)."""
    rows = export_rows(caller, project_id, header.recipient, statuses)
    if fmt in COLUMNAR_FORMATS:
        return columnar_export(session, rows, merge, header, out, registry, fmt, spool_dir)
    exported, tally = merging_features(session, rows, merge, project_id, spool_dir)
    summary = write_export(
        exported, header, out, fmt, precision=PRECISION, spool_dir=spool_dir, registry=registry
    )
    return summary, tally.merged
