"""Annotations: create, read, list, update with optimistic concurrency, delete, history, downgrade.

Markings (MARKINGS.md section 4): an annotation's marking dominates its chip's (the floor, the least upper
bound of its sources); the labeler may raise it, never lower it below the floor, and never above their own
access. Lowering below the floor takes two security officers (geo_label.downgrades).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import ColumnElement, all_, delete, exists, func, insert, select, update
from sqlalchemy.orm import Session

from access_control import Marking, can_read, dominates, roll_up
from geo_label import audit
from geo_label.attributes import check_attributes, find_class
from geo_label.chips import BBox, bbox_filter, get_chip
from geo_label.db.access import readable
from geo_label.db.bulk import as_json_text, id_array, marking_columns_of
from geo_label.db.context import Caller
from geo_label.db.models import ANNOTATION_VERSIONS as VERSIONS
from geo_label.db.models import ANNOTATIONS, PREDICTIONS, TASKS
from geo_label.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    PreconditionRequiredError,
)
from geo_label.geometry import check_within_chip, parse_geometry, stored_form
from geo_label.markings import joined, marking_columns, marking_of
from geo_label.paging import Position, beyond, page_order
from geo_label.projects import get_project, require_project_role

STATUSES = ("draft", "submitted", "accepted", "rejected")
SOURCES = ("human", "model")
WRITER_ROLES = ("labeler", "reviewer", "manager")
REVIEWER_ROLES = ("reviewer", "manager")
MAX_PAGE = 1000
#: Matches a walk's first page counts exactly unless asked to count them all (issue 21: at a million
#: annotations counting every match cost a second a page, and counting 10,000 of them 14 ms, as much as the
#: rest of the page); the annotations API's and the OGC pages' cap.
COUNT_CAP = 1_000


@dataclass(frozen=True)
class AnnotationInput:
    chip_id: uuid.UUID
    label_class: str
    geometry: dict[str, Any]
    marking: Marking | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    source: str = "human"
    confidence: float | None = None
    status: str = "draft"
    #: The prediction it was accepted from (geo_label.predictions.suggestions), if any.
    prediction_id: uuid.UUID | None = None


@dataclass(frozen=True)
class AnnotationChanges:
    label_class: str | None = None
    geometry: dict[str, Any] | None = None
    marking: Marking | None = None
    attributes: dict[str, Any] | None = None
    status: str | None = None
    confidence: float | None = None


def check_marking(caller: Caller, requested: Marking | None, sources: list[Marking]) -> Marking:
    """The marking to store: ``requested`` (default: the least upper bound of the sources), never below any
    source (the floor), never above the caller's own access.

    Each source is checked on its own rather than against their roll-up: the roll-up spells out NOFORN for a
    classified source without REL, and "SECRET" on a "SECRET" chip must not be refused as lower than
    "SECRET//NOFORN", which it is equivalent to.
    """
    distinct = list(dict.fromkeys(sources))
    marking = requested or joined(distinct)
    for source in distinct:
        if not dominates(marking, source):
            raise InvalidInputError(
                f"marking {marking.banner()} is lower than its source's {source.banner()}; raise it, or ask "
                "a security officer to downgrade"
            )
    if not can_read(caller.access, marking):
        raise InvalidInputError(f"marking {marking.banner()} is above your own access")
    return marking


def _check_choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise InvalidInputError(f"{what} must be one of {', '.join(allowed)}")
    return value


def _check_confidence(value: float | None) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise InvalidInputError("confidence must be between 0 and 1")
    return value


def create_annotation(session: Session, caller: Caller, data: AnnotationInput) -> Any:
    chip = get_chip(session, caller, data.chip_id)  # a hidden chip gives the same 404 as a missing one
    require_project_role(caller, chip["project_id"], *WRITER_ROLES)
    project = get_project(session, caller, chip["project_id"])
    label_class = find_class(project["label_schema"], data.label_class)
    geometry = parse_geometry(data.geometry, label_class["geometry_types"])
    check_within_chip(geometry, to_shape(chip["footprint"]))
    attributes = check_attributes(label_class, data.attributes)
    marking = check_marking(caller, data.marking, [marking_of(chip), marking_of(project)])
    annotation_id = uuid.uuid4()
    session.execute(
        insert(ANNOTATIONS).values(
            id=annotation_id,
            project_id=chip["project_id"],
            image_id=chip["image_id"],
            chip_id=chip["id"],
            label_class=label_class["name"],
            attributes=attributes,
            geometry=from_shape(stored_form(geometry), 4326),
            source=_check_choice(data.source, SOURCES, "source"),
            confidence=_check_confidence(data.confidence),
            status=_check_choice(data.status, ("draft", "submitted"), "a new annotation's status"),
            version=1,
            created_by=caller.user_id,
            updated_by=caller.user_id,
            marked_by=caller.user_id,
            derived_from=[f"chip:{chip['id']}"],
            prediction_id=data.prediction_id,
            **marking_columns(marking),
        )
    )
    audit.record(
        session,
        caller,
        "annotation.create",
        item_type="annotation",
        item_id=annotation_id,
        project_id=chip["project_id"],
        marking=marking,
        details={"class": label_class["name"]},
    )
    return fetch_annotation(session, caller, annotation_id)


def fetch_annotation(session: Session, caller: Caller, annotation_id: uuid.UUID) -> Any:
    query = select(ANNOTATIONS, GEOMETRY_GEOJSON).where(
        ANNOTATIONS.c.id == annotation_id, readable(ANNOTATIONS, caller)
    )
    row = session.execute(query).mappings().one_or_none()
    if row is None:
        raise NotFoundError("annotation")
    return row


def get_annotation(session: Session, caller: Caller, annotation_id: uuid.UUID) -> Any:
    row = fetch_annotation(session, caller, annotation_id)
    audit_read(session, caller, "annotation", [row])
    return row


def audit_read(session: Session, caller: Caller, kind: str, rows: Sequence[Any], **details: Any) -> None:
    """Reads of classified content are audited: one record per request with the roll-up of what was read.

    ``rows`` are mappings or rows with attributes (a page's plain rows)."""
    markings = [marking_of(r) for r in rows]
    classified = [(r, m) for r, m in zip(rows, markings, strict=True) if m.classification > 0]
    if not classified:
        return
    first = classified[0][0]
    # Versions (history) carry their annotation's id as annotation_id: they have no id column of their own.
    item_id = (_field(first, "id") or _field(first, "annotation_id")) if len(rows) == 1 else None
    audit.record(
        session,
        caller,
        f"{kind}.read",
        item_type=kind,
        item_id=item_id,
        project_id=_field(first, "project_id"),
        marking=roll_up(m for _, m in classified),
        details={"count": len(rows), "classified": len(classified), **details},
    )


def _field(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)


@dataclass(frozen=True)
class TimeWindow:
    """Last changed (``updated_at``) from ``start`` to ``end``, either end open when None; ``end`` itself is
    excluded when ``end_exclusive`` (an OGC ``datetime`` given as a day or a month)."""

    start: datetime | None = None
    end: datetime | None = None
    end_exclusive: bool = False

    def conditions(self) -> list[ColumnElement[bool]]:
        column = ANNOTATIONS.c.updated_at
        out: list[ColumnElement[bool]] = []
        if self.start is not None:
            out.append(column >= self.start)
        if self.end is not None:
            out.append(column < self.end if self.end_exclusive else column <= self.end)
        return out


@dataclass(frozen=True)
class AnnotationFilter:
    """What selects annotations, for a page, its count and a single read alike."""

    project_id: uuid.UUID | None = None
    chip_id: uuid.UUID | None = None
    image_id: uuid.UUID | None = None
    label_class: str | None = None
    status: str | None = None
    bbox: BBox | None = None
    max_classification: int | None = None
    updated: TimeWindow | None = None
    #: Annotations left out: the parts other than the first of objects merged across chips.
    excluded: tuple[uuid.UUID, ...] = ()

    def key(self) -> str:
        """The filter as text, which a paging cursor is bound to."""
        return f"annotations:{self!r}"

    def conditions(self) -> list[ColumnElement[bool]]:
        c = ANNOTATIONS.c
        pairs = [
            (self.project_id, c.project_id),
            (self.chip_id, c.chip_id),
            (self.image_id, c.image_id),
            (self.label_class, c.label_class),
            (self.status, c.status),
        ]
        out: list[ColumnElement[bool]] = [column == value for value, column in pairs if value is not None]
        if self.max_classification is not None:
            out.append(c.classification <= self.max_classification)
        if self.bbox is not None:
            out.append(bbox_filter(c.geometry, self.bbox))
        if self.updated is not None:
            out.extend(self.updated.conditions())
        if self.excluded:
            out.append(c.id != all_(id_array(self.excluded)))
        return out


#: Annotation geometries in responses: PostGIS's GeoJSON to 9 decimals (0.1 mm), the same text for a page
#: and a single annotation.
GEOMETRY_GEOJSON = func.ST_AsGeoJSON(ANNOTATIONS.c.geometry, 9).label("geometry_geojson")

#: A page's columns: the geometry as PostGIS's GeoJSON text and the attributes as JSON text (embedded in the
#: response as they are), the markings as plain lists (see :mod:`geo_label.db.bulk`).
PAGE_COLUMNS = [
    *(
        ANNOTATIONS.c[name]
        for name in (
            "id",
            "project_id",
            "image_id",
            "chip_id",
            "label_class",
            "source",
            "confidence",
            "status",
            "version",
            "created_by",
            "created_at",
            "updated_by",
            "updated_at",
            "reviewed_by",
            "prediction_id",
        )
    ),
    *marking_columns_of(ANNOTATIONS),
    as_json_text(ANNOTATIONS.c.attributes),
    GEOMETRY_GEOJSON,
]


def annotation_query(caller: Caller, filters: AnnotationFilter) -> Any:
    return select(ANNOTATIONS).where(readable(ANNOTATIONS, caller), *filters.conditions())


def page_statement(
    caller: Caller, filters: AnnotationFilter, *, limit: int, offset: int = 0, start: Position | None = None
) -> Any:
    """One page of readable annotations in a stable order (oldest first), from ``start`` (a keyset cursor's
    position: the index finds it, see :mod:`geo_label.paging`) or after skipping ``offset`` rows."""
    conditions = filters.conditions()
    if start is not None:
        conditions.append(beyond(ANNOTATIONS, start))
    return (
        select(*PAGE_COLUMNS)
        .where(readable(ANNOTATIONS, caller), *conditions)
        .order_by(*page_order(ANNOTATIONS, start))
        .limit(limit)
        .offset(offset)
    )


def count_statement(caller: Caller, filters: AnnotationFilter, *, cap: int | None = None) -> Any:
    """The number of readable matches (the same filter as the page's), counting no further than ``cap`` + 1
    when a cap is given."""
    query = annotation_query(caller, filters)
    if cap is not None:
        query = query.limit(cap + 1)
    return select(func.count()).select_from(query.subquery())


@dataclass(frozen=True)
class AnnotationPage:
    rows: list[Any]
    #: Readable matches (counted no further than the cap + 1 when one was given); None when not counted.
    total: int | None
    #: Where the next page starts; None on the last page.
    next_position: Position | None


def list_annotations(
    session: Session,
    caller: Caller,
    filters: AnnotationFilter,
    *,
    limit: int,
    offset: int = 0,
    start: Position | None = None,
    count: bool = True,
    count_cap: int | None = None,
) -> AnnotationPage:
    """A page of readable annotations (plain rows of PAGE_COLUMNS), where the next one starts, and the number
    of readable matches (the same filter for both); with ``count_cap``, counted no further than
    ``count_cap`` + 1 (issue 21: at a million annotations counting every match cost a second a page).
    ``start`` is a forward position (the page after it): the API issues no other."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidInputError(f"limit must be 1..{MAX_PAGE} and offset >= 0")
    if start is not None and offset:
        raise InvalidInputError("give a cursor or an offset, not both")
    statement = page_statement(caller, filters, limit=limit + 1, offset=offset, start=start)
    rows = list(session.execute(statement).all())
    more = len(rows) > limit
    rows = rows[:limit]
    total: int | None = None
    if count and offset == 0 and start is None and not more:
        total = len(rows)  # a first page that is not full holds every match: no second query
    elif count:
        total = session.execute(count_statement(caller, filters, cap=count_cap)).scalar_one()
    audit_read(session, caller, "annotation", rows)
    last = rows[-1] if more else None
    return AnnotationPage(rows, total, Position(last.created_at, last.id) if last is not None else None)


def require_version(if_match: int | None) -> int:
    if if_match is None:
        raise PreconditionRequiredError("send If-Match with the version (ETag) you read")
    return if_match


def _writable(
    session: Session, caller: Caller, annotation_id: uuid.UUID, if_match: int | None
) -> tuple[int, Any]:
    """The version the caller says they read and the annotation as stored, for a writer of its project who
    may change it (:func:`_require_may_change`)."""
    expected = require_version(if_match)
    current = fetch_annotation(session, caller, annotation_id)
    require_project_role(caller, current["project_id"], *WRITER_ROLES)
    _require_may_change(session, caller, current)
    return expected, current


def _is_reviewer(caller: Caller, project_id: uuid.UUID) -> bool:
    return caller.role_in(project_id) in REVIEWER_ROLES or "system" in caller.roles


def _require_may_change(session: Session, caller: Caller, current: Any) -> None:
    """A labeler changes only their own annotations, or (one labeler per chip) the work of a task leased to
    them, such as drafts left by a lapsed lease. Reviewers and managers change anyone's; every change is
    audited and kept in the history."""
    if _is_reviewer(caller, current["project_id"]) or current["created_by"] == caller.user_id:
        return
    if not _consensus(session, caller, current["project_id"]):
        leased = session.execute(
            select(
                exists().where(
                    TASKS.c.chip_id == current["chip_id"],
                    TASKS.c.assignee == caller.user_id,
                    TASKS.c.state == "in_progress",
                    readable(TASKS, caller),
                )
            )
        ).scalar_one()
        if leased:
            return
    raise PermissionDeniedError(
        "labelers change only their own annotations or those of a task leased to them"
    )


def _consensus(session: Session, caller: Caller, project_id: uuid.UUID) -> bool:
    """Whether several labelers label each chip of the project independently (each task's work is then its
    labeler's own annotations)."""
    return int(get_project(session, caller, project_id)["consensus_k"]) > 1


def _back_to_review(session: Session, caller: Caller, current: Any, values: dict[str, Any]) -> None:
    """An accepted annotation whose geometry, class or attributes someone other than a reviewer changes is
    submitted again, and so are the accepted tasks whose work it is: review is not bypassed by an edit."""
    changed = (
        any(key in values and values[key] != current[key] for key in ("label_class", "attributes"))
        or "geometry" in values
    )
    if current["status"] != "accepted" or not changed or _is_reviewer(caller, current["project_id"]):
        return
    values["status"] = "submitted"
    values["reviewed_by"] = None
    tasks = [TASKS.c.chip_id == current["chip_id"], TASKS.c.state == "accepted", readable(TASKS, caller)]
    if _consensus(session, caller, current["project_id"]):
        tasks.append(TASKS.c.assignee == current["created_by"])
    session.execute(update(TASKS).where(*tasks).values(state="submitted", updated_at=func.now()))


def update_annotation(
    session: Session,
    caller: Caller,
    annotation_id: uuid.UUID,
    changes: AnnotationChanges,
    *,
    if_match: int | None,
) -> Any:
    expected, current = _writable(session, caller, annotation_id, if_match)
    project = get_project(session, caller, current["project_id"])
    chip = get_chip(session, caller, current["chip_id"])
    label_class = find_class(project["label_schema"], changes.label_class or current["label_class"])
    values: dict[str, Any] = {"label_class": label_class["name"]}
    if changes.geometry is not None:
        geometry = parse_geometry(changes.geometry, label_class["geometry_types"])
        check_within_chip(geometry, to_shape(chip["footprint"]))
        values["geometry"] = from_shape(stored_form(geometry), 4326)
    elif changes.label_class is not None:
        parse_geometry(_geojson(current["geometry"]), label_class["geometry_types"])
    attributes = changes.attributes if changes.attributes is not None else current["attributes"]
    values["attributes"] = check_attributes(label_class, attributes)
    if changes.marking is not None:
        sources = [marking_of(chip), marking_of(project)]
        values.update(
            marking_columns(check_marking(caller, changes.marking, sources)),
            marked_by=caller.user_id,
            marked_at=func.now(),
        )
    if changes.status is not None:
        values["status"] = _check_status_change(caller, current, changes.status)
    if changes.confidence is not None:
        values["confidence"] = _check_confidence(changes.confidence)
    _back_to_review(session, caller, current, values)
    versioned_update(session, caller, annotation_id, expected, values)
    if current["prediction_id"] is not None and (
        changes.geometry is not None or label_class["name"] != current["label_class"]
    ):  # a suggestion accepted unchanged, changed since: the model's figures count it as edited
        session.execute(
            update(PREDICTIONS)
            .where(PREDICTIONS.c.id == current["prediction_id"], PREDICTIONS.c.state == "accepted")
            .values(state="edited")
        )
    updated = fetch_annotation(session, caller, annotation_id)
    audit.record(
        session,
        caller,
        "annotation.update",
        item_type="annotation",
        item_id=annotation_id,
        project_id=updated["project_id"],
        marking=marking_of(updated),
        details={"version": updated["version"], "fields": sorted(k for k in values if k != "marked_at")},
    )
    return updated


def _check_status_change(caller: Caller, current: Any, status: str) -> str:
    _check_choice(status, STATUSES, "status")
    if status in ("accepted", "rejected"):
        require_project_role(caller, current["project_id"], "reviewer", "manager")
        if current["created_by"] == caller.user_id:
            raise PermissionDeniedError("reviewers never review their own work")
    return status


def versioned_update(
    session: Session, caller: Caller, annotation_id: uuid.UUID, expected: int, values: dict[str, Any]
) -> None:
    result = session.execute(
        update(ANNOTATIONS)
        .where(
            ANNOTATIONS.c.id == annotation_id,
            ANNOTATIONS.c.version == expected,
            readable(ANNOTATIONS, caller),
        )
        .values(**values, version=ANNOTATIONS.c.version + 1, updated_by=caller.user_id, updated_at=func.now())
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        fetch_annotation(session, caller, annotation_id)  # gone or hidden: 404
        raise PreconditionFailedError("the annotation changed since you read it; read it again and retry")


def delete_annotation(
    session: Session, caller: Caller, annotation_id: uuid.UUID, *, if_match: int | None
) -> None:
    expected, current = _writable(session, caller, annotation_id, if_match)
    result = session.execute(
        delete(ANNOTATIONS).where(
            ANNOTATIONS.c.id == annotation_id,
            ANNOTATIONS.c.version == expected,
            readable(ANNOTATIONS, caller),
        )
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise PreconditionFailedError("the annotation changed since you read it; read it again and retry")
    audit.record(
        session,
        caller,
        "annotation.delete",
        item_type="annotation",
        item_id=annotation_id,
        project_id=current["project_id"],
        marking=marking_of(current),
        details={"version": expected},
    )


def history(session: Session, caller: Caller, annotation_id: uuid.UUID) -> list[Any]:
    """The readable versions of an annotation the caller may read now, oldest first; after a deletion, of
    one whose last version (the deletion's) the caller may read.

    An annotation reclassified above the caller's access has a history as hidden as itself: its older, lower
    versions would tell that it exists and was raised (MARKINGS.md section 8: hidden == missing)."""
    rows = list(
        session.execute(
            select(VERSIONS)
            .where(VERSIONS.c.annotation_id == annotation_id, readable(VERSIONS, caller))
            .order_by(VERSIONS.c.version)
        ).mappings()
    )
    live = session.execute(
        select(ANNOTATIONS.c.version).where(ANNOTATIONS.c.id == annotation_id, readable(ANNOTATIONS, caller))
    ).scalar_one_or_none()
    deleted = bool(rows) and rows[-1]["operation"] == "delete"
    if not rows or (live is None and not deleted):
        raise NotFoundError("annotation")
    audit_read(session, caller, "annotation_version", rows, annotation_id=str(annotation_id))
    return rows


def _geojson(geometry: Any) -> dict[str, Any]:
    from shapely.geometry import mapping

    return dict(mapping(to_shape(geometry)))
