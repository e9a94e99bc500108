"""Predictions as suggestions in the labeling view (issue 13, part 2): listed on their chip, accepted
(unchanged or edited) into an annotation the labeler owns, or rejected. Nothing is deleted: a decided
prediction keeps its state, who decided and when, and the annotation it became.

An accepted suggestion becomes a draft annotation of the person who accepted it, with ``source`` "model",
its score as ``confidence`` and ``prediction_id`` pointing back (the provenance the export and the review
view show). A prediction that reaches past its chip (an object no chip holds whole) is clipped to the chip,
as a labeler drawing it there would have to. Changing the annotation's class or shape later marks an
"accepted" prediction "edited" (geo_label.annotations.update_annotation).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from access_control import Marking
from geo_label import audit
from geo_label.annotations import WRITER_ROLES, AnnotationInput, audit_read, create_annotation
from geo_label.chips import get_chip
from geo_label.db.access import readable
from geo_label.db.context import Caller
from geo_label.db.models import MODELS, PREDICTIONS
from geo_label.errors import ConflictError, InvalidInputError, NotFoundError
from geo_label.geometry import CHIP_TOLERANCE
from geo_label.markings import marking_of
from geo_label.projects import require_project_role

PROPOSED = "proposed"
DECIDED = ("accepted", "edited", "rejected")
SUGGESTION_COLUMNS = (
    PREDICTIONS.c.id,
    PREDICTIONS.c.project_id,
    PREDICTIONS.c.chip_id,
    PREDICTIONS.c.model_id,
    PREDICTIONS.c.label_class,
    PREDICTIONS.c.score,
    PREDICTIONS.c.state,
    PREDICTIONS.c.annotation_id,
    PREDICTIONS.c.decided_by,
    PREDICTIONS.c.decided_at,
    PREDICTIONS.c.classification,
    PREDICTIONS.c.sci_controls,
    PREDICTIONS.c.dissemination,
    PREDICTIONS.c.rel_to,
    func.ST_AsGeoJSON(PREDICTIONS.c.geometry).label("geometry_geojson"),
    MODELS.c.name.label("model_name"),
    MODELS.c.version.label("model_version"),
)


@dataclass(frozen=True)
class Acceptance:
    """What the labeler changed while accepting (nothing: accepted unchanged)."""

    label_class: str | None = None
    geometry: dict[str, Any] | None = None
    marking: Marking | None = None
    attributes: dict[str, Any] | None = None


def _query(caller: Caller) -> Any:
    return (
        select(*SUGGESTION_COLUMNS)
        .join(MODELS, MODELS.c.id == PREDICTIONS.c.model_id)
        .where(readable(PREDICTIONS, caller))
    )


def chip_suggestions(
    session: Session,
    caller: Caller,
    chip_id: uuid.UUID,
    *,
    min_score: float = 0.0,
    states: tuple[str, ...] = (PROPOSED,),
    model_id: uuid.UUID | None = None,
) -> list[Any]:
    """The readable predictions on the chip, best score first (404 alike for a hidden or missing chip)."""
    chip = get_chip(session, caller, chip_id)
    require_project_role(caller, chip["project_id"], *WRITER_ROLES)
    unknown = set(states) - {PROPOSED, *DECIDED}
    if unknown:
        raise InvalidInputError(f"a suggestion's state is one of proposed, {', '.join(DECIDED)}")
    query = _query(caller).where(
        PREDICTIONS.c.chip_id == chip_id,
        PREDICTIONS.c.state.in_(states),
        PREDICTIONS.c.score >= min_score,
    )
    if model_id is not None:
        query = query.where(PREDICTIONS.c.model_id == model_id)
    rows = list(session.execute(query.order_by(PREDICTIONS.c.score.desc(), PREDICTIONS.c.id)).mappings())
    audit_read(session, caller, "prediction", rows, chip_id=str(chip_id))
    return rows


def _fetch(session: Session, caller: Caller, prediction_id: uuid.UUID, *, lock: bool = False) -> Any:
    query = _query(caller).where(PREDICTIONS.c.id == prediction_id)
    if lock:
        query = query.with_for_update(of=PREDICTIONS)
    row = session.execute(query).mappings().one_or_none()
    if row is None:
        raise NotFoundError("prediction")
    return row


def _decide(session: Session, caller: Caller, row: Any, state: str, annotation_id: uuid.UUID | None) -> None:
    session.execute(
        update(PREDICTIONS)
        .where(PREDICTIONS.c.id == row["id"])
        .values(state=state, annotation_id=annotation_id, decided_by=caller.user_id, decided_at=func.now())
    )
    audit.record(
        session,
        caller,
        f"prediction.{'reject' if state == 'rejected' else 'accept'}",
        item_type="prediction",
        item_id=row["id"],
        project_id=row["project_id"],
        marking=marking_of(row),
        details={"state": state, "annotation_id": str(annotation_id) if annotation_id else None},
    )


def _open(session: Session, caller: Caller, prediction_id: uuid.UUID) -> Any:
    row = _fetch(session, caller, prediction_id, lock=True)
    require_project_role(caller, row["project_id"], *WRITER_ROLES)
    if row["state"] != PROPOSED:
        raise ConflictError(f"this suggestion was already {row['state']}")
    return row


def _on_chip(geometry: dict[str, Any], chip: Any) -> dict[str, Any]:
    """The suggestion's shape, clipped to its chip if it reaches past it (past a drawn label's tolerance)."""
    shape = shapely.geometry.shape(geometry)
    footprint = to_shape(chip["footprint"])
    west, south, east, north = footprint.bounds
    if footprint.buffer(CHIP_TOLERANCE * max(east - west, north - south)).covers(shape):
        return geometry
    clipped = shapely.intersection(shape, footprint)
    if clipped.geom_type == "GeometryCollection":  # keep the parts of the shape's own dimension
        parts = [part for part in shapely.get_parts(clipped) if part.geom_type in shape.geom_type]
        clipped = shapely.union_all(parts) if parts else clipped
    if clipped.is_empty:
        raise InvalidInputError("the suggestion does not lie on its chip")
    return dict(mapping(clipped))


def accept_suggestion(
    session: Session, caller: Caller, prediction_id: uuid.UUID, changes: Acceptance | None = None
) -> Any:
    """The suggestion becomes the caller's draft annotation (``edited`` when they changed its class or shape
    on the way); returns the annotation."""
    row = _open(session, caller, prediction_id)
    changes = changes or Acceptance()
    chip = get_chip(session, caller, row["chip_id"])
    geometry = changes.geometry or _on_chip(_geojson(row["geometry_geojson"]), chip)
    label_class = changes.label_class or row["label_class"]
    edited = changes.geometry is not None or label_class != row["label_class"]
    annotation = create_annotation(
        session,
        caller,
        AnnotationInput(
            chip_id=row["chip_id"],
            label_class=label_class,
            geometry=geometry,
            marking=changes.marking or marking_of(row),
            attributes=changes.attributes or {},
            source="model",
            confidence=row["score"],
            prediction_id=row["id"],
        ),
    )
    _decide(session, caller, row, "edited" if edited else "accepted", annotation["id"])
    return annotation


def reject_suggestion(session: Session, caller: Caller, prediction_id: uuid.UUID) -> None:
    row = _open(session, caller, prediction_id)
    _decide(session, caller, row, "rejected", None)


def accept_all(
    session: Session,
    caller: Caller,
    chip_id: uuid.UUID,
    *,
    min_score: float,
    model_id: uuid.UUID | None = None,
) -> list[Any]:
    """Every proposed suggestion on the chip scored at least ``min_score``, accepted unchanged."""
    rows = chip_suggestions(session, caller, chip_id, min_score=min_score, model_id=model_id)
    return [accept_suggestion(session, caller, row["id"]) for row in rows]


def _geojson(text: str) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(text)
    return value
