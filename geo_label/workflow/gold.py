"""Gold chips: a manager sets reference features on chips; every labeler who hands in work on one is scored
(precision, recall and F1, features matched per class at IoU >= 0.5 as in consensus).

References are kept in ``gold_features``, not as annotations: labelers read every annotation on the chips
they label (and exports take annotations), so answers stored there would be seen, exported and counted as
labels. Each reference carries its own marking (at least the chip's, as for annotations).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from access_control import Marking, roll_up
from geo_label import audit
from geo_label.annotations import check_marking
from geo_label.attributes import find_class
from geo_label.chips import get_chip
from geo_label.db.access import readable
from geo_label.db.context import Caller
from geo_label.db.models import ANNOTATIONS, GOLD_CHIPS, GOLD_FEATURES, GOLD_SCORES, TASKS
from geo_label.errors import NotFoundError
from geo_label.geometry import check_within_chip, parse_geometry, stored_form
from geo_label.markings import marking_columns, marking_of
from geo_label.projects import get_project, require_project_role
from geo_label.workflow.common import DONE_STATES, is_gold, work_filter
from geo_label.workflow.config import Workflow, load_workflow
from geo_label.workflow.consensus import Feature, chip_buffers, match


@dataclass(frozen=True)
class Score:
    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float


def _ratio(hits: int, total: int, other_total: int) -> float:
    """hits / total; with nothing in ``total`` 1.0 when the other side is empty too (nothing to find, nothing
    found), else 0.0."""
    if total:
        return hits / total
    return 1.0 if other_total == 0 else 0.0


def score(predicted: list[Feature], reference: list[Feature], *, buffer: float = 0.0) -> Score:
    """Precision, recall and F1 of ``predicted`` against ``reference`` at IoU >= 0.5."""
    hits = len(match(predicted, reference, buffer=buffer))
    precision = _ratio(hits, len(predicted), len(reference))
    recall = _ratio(hits, len(reference), len(predicted))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(hits, len(predicted) - hits, len(reference) - hits, precision, recall, f1)


@dataclass(frozen=True)
class ReferenceInput:
    label_class: str
    geometry: dict[str, Any]
    marking: Marking | None = None


@dataclass(frozen=True)
class GoldResult:
    chip_id: uuid.UUID
    references: int
    moved_annotations: int
    rescored: int


def _features(rows: Any) -> list[Feature]:
    return [Feature(r["label_class"], to_shape(r["geometry"])) for r in rows]


def score_task(session: Session, caller: Caller, task: Any, workflow: Workflow) -> Score | None:
    """Score the handed-in work of a task on a gold chip (None when the chip is not gold): the latest
    submission's score replaces an earlier one."""
    if not is_gold(session, caller, task["chip_id"]):
        return None
    reference = session.execute(
        select(GOLD_FEATURES.c.label_class, GOLD_FEATURES.c.geometry).where(
            GOLD_FEATURES.c.chip_id == task["chip_id"], readable(GOLD_FEATURES, caller)
        )
    ).mappings()
    predicted = session.execute(
        select(ANNOTATIONS.c.label_class, ANNOTATIONS.c.geometry).where(
            *work_filter(task, workflow), readable(ANNOTATIONS, caller)
        )
    ).mappings()
    buffer = chip_buffers(session, caller, [task["chip_id"]]).get(task["chip_id"], 0.0)
    result = score(_features(predicted), _features(reference), buffer=buffer)
    values = {
        "true_positives": result.true_positives,
        "false_positives": result.false_positives,
        "false_negatives": result.false_negatives,
        "precision": result.precision,
        "recall": result.recall,
        "f1": result.f1,
    }
    statement = pg_insert(GOLD_SCORES).values(
        task_id=task["id"],
        project_id=task["project_id"],
        chip_id=task["chip_id"],
        labeler=task["assignee"],
        derived_from=[f"task:{task['id']}"],
        marked_by=caller.user_id,
        **values,
        **marking_columns(marking_of(task)),
    )
    session.execute(statement.on_conflict_do_update(index_elements=["task_id"], set_=values))
    return result


def _given_references(
    caller: Caller, project: Any, chip: Any, references: list[ReferenceInput]
) -> list[dict[str, Any]]:
    footprint = to_shape(chip["footprint"])
    out = []
    for reference in references:
        label_class = find_class(project["label_schema"], reference.label_class)
        geometry = parse_geometry(reference.geometry, label_class["geometry_types"])
        check_within_chip(geometry, footprint)
        marking = check_marking(caller, reference.marking, [marking_of(chip), marking_of(project)])
        out.append(
            {
                "label_class": label_class["name"],
                "geometry": from_shape(stored_form(geometry), 4326),
                **marking_columns(marking),
            }
        )
    return out


def _moved_annotations(session: Session, caller: Caller, chip: Any) -> list[dict[str, Any]]:
    """The caller's own annotations on the chip become the references and leave the annotations (their
    history keeps them), so that labelers given the chip do not see the answers."""
    rows = list(
        session.execute(
            select(ANNOTATIONS).where(
                ANNOTATIONS.c.chip_id == chip["id"],
                ANNOTATIONS.c.created_by == caller.user_id,
                readable(ANNOTATIONS, caller),
            )
        ).mappings()
    )
    if rows:
        session.execute(delete(ANNOTATIONS).where(ANNOTATIONS.c.id.in_([r["id"] for r in rows])))
    return [
        {"label_class": r["label_class"], "geometry": r["geometry"], **marking_columns(marking_of(r))}
        for r in rows
    ]


def mark_gold(
    session: Session,
    caller: Caller,
    project_id: uuid.UUID,
    chip_id: uuid.UUID,
    references: list[ReferenceInput] | None = None,
) -> GoldResult:
    """Make a chip gold (managers). The references are ``references`` when given, else the caller's own
    annotations on the chip, moved. Marking a gold chip again replaces its references; work already handed
    in on the chip is scored (again)."""
    workflow = load_workflow(session, caller, project_id)
    require_project_role(caller, project_id, "manager")
    chip = get_chip(session, caller, chip_id)
    if chip["project_id"] != project_id:
        raise NotFoundError("chip")
    project = get_project(session, caller, project_id)
    moved = 0
    if references is None:
        rows = _moved_annotations(session, caller, chip)
        moved = len(rows)
    else:
        rows = _given_references(caller, project, chip, references)
    chip_marking = marking_columns(marking_of(chip))
    upsert = pg_insert(GOLD_CHIPS).values(
        chip_id=chip_id,
        project_id=project_id,
        created_by=caller.user_id,
        marked_by=caller.user_id,
        derived_from=[f"chip:{chip_id}"],
        **chip_marking,
    )
    session.execute(
        upsert.on_conflict_do_update(index_elements=["chip_id"], set_={"created_by": caller.user_id})
    )
    session.execute(
        delete(GOLD_FEATURES).where(GOLD_FEATURES.c.chip_id == chip_id, readable(GOLD_FEATURES, caller))
    )
    if rows:
        common = {
            "chip_id": chip_id,
            "project_id": project_id,
            "created_by": caller.user_id,
            "marked_by": caller.user_id,
            "derived_from": [f"chip:{chip_id}"],
        }
        session.execute(insert(GOLD_FEATURES), [{**common, **row} for row in rows])
    done = session.execute(
        select(TASKS).where(
            TASKS.c.chip_id == chip_id, TASKS.c.state.in_(DONE_STATES), readable(TASKS, caller)
        )
    ).mappings()
    rescored = sum(1 for task in done if score_task(session, caller, task, workflow) is not None)
    audit.record(
        session,
        caller,
        "gold.mark",
        item_type="chip",
        item_id=chip_id,
        project_id=project_id,
        marking=roll_up([marking_of(chip), *(marking_of(r) for r in rows)]),
        details={"references": len(rows), "moved_annotations": moved, "rescored": rescored},
    )
    return GoldResult(chip_id, len(rows), moved, rescored)
