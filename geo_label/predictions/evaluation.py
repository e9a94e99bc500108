"""A model version measured against what people accepted (issue 13, part 4).

The references are the accepted (reviewed) labels on the chips that are done (every task of the chip
accepted), merged into objects by the export's rule (:mod:`geo_label.export.merge`), so an object labeled on
two overlapping chips is one reference. The detections are the model's predictions on those chips (each on
one chip: :mod:`geo_label.predictions.placement`). Both are exactly what the caller may read; the result
carries the banner of what it was computed from. The metrics are :mod:`geo_label.predictions.metrics`.

The human-correction figures: of the model's suggestions on those chips, how many people accepted
unchanged, edited or rejected; how many reference objects people drew themselves (no part of them came from
this model); and the mean time on task of the chips with suggestions and of those without.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import exists, func, not_, select
from sqlalchemy.orm import Session

from access_control import Marking
from geo_label import audit
from geo_label.db.access import readable
from geo_label.db.context import Caller
from geo_label.db.models import ANNOTATIONS, CHIPS, PREDICTIONS, TASKS
from geo_label.errors import InvalidInputError
from geo_label.export.merge import Boxes, MergeRule, alike_pairs, candidate_indexes, groups_of, unions_of
from geo_label.markings import joined, marking_of_values
from geo_label.predictions.metrics import Metrics, Shapes, compute
from geo_label.predictions.registry import find_model
from geo_label.projects import get_project, require_project_role

EVALUATOR_ROLES = ("manager", "reviewer")
MARKING = (
    PREDICTIONS.c.classification,
    PREDICTIONS.c.sci_controls,
    PREDICTIONS.c.dissemination,
    PREDICTIONS.c.rel_to,
)


@dataclass(frozen=True)
class EvaluationOptions:
    iou: float = 0.5
    score: float = 0.5
    merge: MergeRule = field(default_factory=MergeRule)

    def __post_init__(self) -> None:
        if not 0.0 < self.iou <= 1.0:
            raise InvalidInputError("the IoU threshold must be greater than 0 and at most 1")
        if not 0.0 <= self.score <= 1.0:
            raise InvalidInputError("the score threshold must be from 0 to 1")


def done_chips(caller: Caller, project_id: uuid.UUID) -> Any:
    """The readable chips of the project whose every task is accepted (and that have tasks)."""
    tasks = TASKS.alias("t")
    return select(CHIPS.c.id).where(
        CHIPS.c.project_id == project_id,
        readable(CHIPS, caller),
        exists().where(tasks.c.chip_id == CHIPS.c.id),
        not_(exists().where(tasks.c.chip_id == CHIPS.c.id, tasks.c.state != "accepted")),
    )


@dataclass
class _References:
    shapes: Shapes
    parts_from: list[list[uuid.UUID | None]]  #: per object, the prediction each part was accepted from
    markings: set[Marking]


def _references(
    session: Session, caller: Caller, project_id: uuid.UUID, chips: Any, rule: MergeRule
) -> _References:
    a = ANNOTATIONS
    rows: list[Any] = session.execute(
        select(
            a.c.id,
            a.c.image_id,
            a.c.chip_id,
            a.c.label_class,
            func.ST_AsBinary(a.c.geometry),
            a.c.prediction_id,
            a.c.classification,
            a.c.sci_controls,
            a.c.dissemination,
            a.c.rel_to,
        )
        .where(
            a.c.project_id == project_id,
            readable(ANNOTATIONS, caller),
            a.c.status == "accepted",
            a.c.chip_id.in_(chips),
        )
        .order_by(a.c.id)
    ).all()  # type: ignore[assignment]
    geometries = list(shapely.from_wkb([bytes(row[4]) for row in rows])) if rows else []
    markings = {marking_of_values(row[6], row[7], row[8], row[9]) for row in rows}
    groups = _objects(session, rows, geometries, rule)
    unions = unions_of([[geometries[k] for k in group] for group in groups])
    return _References(
        shapes=Shapes(
            image=[rows[group[0]][1] for group in groups],
            label=[rows[group[0]][3] for group in groups],
            geometry=unions,
        ),
        parts_from=[[rows[k][5] for k in group] for group in groups],
        markings=markings,
    )


def _objects(session: Session, rows: list[Any], geometries: list[Any], rule: MergeRule) -> list[list[int]]:
    """The rows (positions) grouped into objects, as the export merges them; singletons included."""
    if not rows:
        return []
    kinds: dict[tuple[Any, ...], int] = {}
    chips: dict[Any, int] = {}
    dimensions = shapely.get_dimensions(np.asarray(geometries, dtype=object))
    boxes = Boxes(
        ids=[str(row[0]) for row in rows],
        kinds=np.asarray(
            [
                kinds.setdefault((row[1], int(d), row[3]), len(kinds))
                for row, d in zip(rows, dimensions, strict=True)
            ],
            dtype=np.int64,
        ),
        chips=np.asarray([chips.setdefault(row[2], len(chips)) for row in rows], dtype=np.int64),
        bounds=shapely.bounds(np.asarray(geometries, dtype=object)),
    )
    left, right = candidate_indexes(boxes, rule)
    candidates = list(zip(left.tolist(), right.tolist(), strict=True))
    shapes = dict(enumerate(geometries))
    pairs = alike_pairs(session, candidates, shapes, lambda k: rows[k][0], rule)
    grouped = groups_of(pairs)
    in_group = {k for group in grouped for k in group}
    return sorted([*grouped, *([k] for k in range(len(rows)) if k not in in_group)], key=lambda g: g[0])


def _detections(
    session: Session, caller: Caller, project_id: uuid.UUID, model_id: uuid.UUID, chips: Any
) -> list[Any]:
    """The model's readable predictions a person finishing a done chip had in view: those on a done chip, and
    those placed on a neighbouring chip that is not done but lying whole on a done one (an object in the
    overlap belongs to the chip in whose core it lies, which may be the unfinished one)."""
    p, done, near = PREDICTIONS, CHIPS.alias("done"), CHIPS.alias("near")
    neighbours = (
        select(near.c.id)
        .join(done, near.c.footprint.op("&&")(done.c.footprint))
        .where(near.c.project_id == project_id, done.c.id.in_(chips), near.c.id.not_in(chips))
    )
    rows = session.execute(
        select(
            p.c.id,
            p.c.image_id,
            p.c.label_class,
            func.ST_AsBinary(p.c.geometry),
            p.c.score,
            p.c.state,
            *MARKING,
        )
        .add_columns(p.c.chip_id.in_(chips).label("on_done"))
        .where(
            p.c.model_id == model_id,
            readable(PREDICTIONS, caller),
            p.c.chip_id.in_(chips) | p.c.chip_id.in_(neighbours),
        )
        .order_by(p.c.id)
    ).all()
    elsewhere = [k for k, row in enumerate(rows) if not row.on_done]
    if not elsewhere:
        return list(rows)
    footprints = [
        to_shape(f) for f in session.execute(select(CHIPS.c.footprint).where(CHIPS.c.id.in_(chips))).scalars()
    ]
    tree = shapely.STRtree(footprints)
    shapes = shapely.from_wkb([bytes(rows[k][3]) for k in elsewhere])
    held, _ = tree.query(shapes, predicate="covered_by")
    kept = {elsewhere[k] for k in held.tolist()}
    return [row for k, row in enumerate(rows) if row.on_done or k in kept]


def _seconds_per_task(session: Session, caller: Caller, chips: Any, with_suggestions: Any) -> float | None:
    value = session.execute(
        select(func.avg(TASKS.c.work_seconds)).where(
            readable(TASKS, caller), TASKS.c.state == "accepted", TASKS.c.chip_id.in_(chips), with_suggestions
        )
    ).scalar_one()
    return None if value is None else float(value)


def evaluate_model(
    session: Session, caller: Caller, project_id: uuid.UUID, model: str, options: EvaluationOptions
) -> dict[str, Any]:
    """The model version's figures against the accepted labels of the done chips (what the caller may
    read), in the shape ``geo-label models evaluate --json`` prints; audited."""
    get_project(session, caller, project_id)
    require_project_role(caller, project_id, *EVALUATOR_ROLES)
    model_row = find_model(session, caller, project_id, model)
    chips = done_chips(caller, project_id)
    references = _references(session, caller, project_id, chips, options.merge)
    rows = _detections(session, caller, project_id, model_row["id"], chips)
    found = Shapes(
        image=[row[1] for row in rows],
        label=[row[2] for row in rows],
        geometry=list(shapely.from_wkb([bytes(row[3]) for row in rows])) if rows else [],
        score=[float(row[4]) for row in rows],
    )
    metrics = compute(
        references.shapes, found, iou=options.iou, score=options.score, distance_m=options.merge.distance_m
    )
    p = PREDICTIONS
    own = {row[0] for row in rows}
    states = [row[5] for row in rows]
    suggested = exists().where(p.c.chip_id == TASKS.c.chip_id, p.c.model_id == model_row["id"])
    correction = {
        "shown": len(rows),
        "accepted_unchanged": states.count("accepted"),
        "edited": states.count("edited"),
        "rejected": states.count("rejected"),
        "undecided": states.count("proposed"),
        "added_by_people": sum(
            1 for parts in references.parts_from if not any(part in own for part in parts)
        ),
        "seconds_per_task_with_suggestions": _seconds_per_task(session, caller, chips, suggested),
        "seconds_per_task_without": _seconds_per_task(session, caller, chips, not_(suggested)),
    }
    markings = references.markings | {marking_of_values(*row[6:10]) for row in rows}
    banner = joined(sorted(markings, key=lambda m: m.banner())) if markings else None
    result = _as_dict(f"{model_row['name']}@{model_row['version']}", metrics, correction, banner)
    audit.record(
        session,
        caller,
        "model.evaluate",
        item_type="model",
        item_id=model_row["id"],
        project_id=project_id,
        marking=banner,
        details={
            "iou": options.iou,
            "score": options.score,
            "labels": metrics.overall.labels,
            "predictions": len(rows),
        },
    )
    return result


def _as_dict(
    model: str, metrics: Metrics, correction: dict[str, Any], banner: Marking | None
) -> dict[str, Any]:
    return {
        "model": model,
        "iou": metrics.iou,
        "score": metrics.score,
        "banner": banner.banner() if banner else None,
        "overall": metrics.overall.as_dict(),
        "classes": {name: figures.as_dict() for name, figures in metrics.classes.items()},
        "confusion": metrics.confusion,
        "correction": correction,
        "curve": {"iou": 0.5, "recall": [round(k / 100, 2) for k in range(101)], "precision": metrics.curve},
    }
