"""Consensus: how well the independent labelers of one chip agree.

Two labelers' features are matched per class by IoU >= 0.5, greedily (the highest IoU first, each feature at
most once: the COCO convention; optimal matching would need a solver and changes nothing on well-separated
features); their agreement is matched / max(count_a, count_b), 1.0 when neither drew anything. A chip's
agreement is the mean over every pair of its labelers whose work was handed in. Points and lines have no
area: they are compared as buffers of 3% of the chip's larger side.

Agreement is computed when asked, with the asker's access: a number stored once would be derived from
annotations some of its later readers may not see (hidden == missing applies to aggregates too).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from geoalchemy2.shape import to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_label.db.access import readable
from geo_label.db.context import Caller
from geo_label.db.models import ANNOTATIONS, CHIPS, TASKS, User
from geo_label.projects import require_project_role
from geo_label.workflow.common import DONE_STATES, REVIEWER_ROLES, fetch_task
from geo_label.workflow.config import Workflow, load_workflow

IOU_THRESHOLD = 0.5
#: Points and lines are buffered by this fraction of the chip's larger side before their IoU is taken.
LINEAR_BUFFER = 0.03
CHUNK = 500
MAX_FLAGGED_LISTED = 100


@dataclass(frozen=True)
class Feature:
    label_class: str
    geometry: BaseGeometry


@dataclass(frozen=True)
class Match:
    a: int
    b: int
    iou: float


def _with_area(geometry: BaseGeometry, buffer: float) -> BaseGeometry:
    return geometry.buffer(buffer) if buffer > 0 and geometry.area == 0 else geometry


def iou(a: BaseGeometry, b: BaseGeometry, *, buffer: float = 0.0) -> float:
    """Intersection over union of two geometries' areas (zero-area ones buffered by ``buffer``; without a
    buffer two zero-area geometries count as 1.0 when equal, else 0.0)."""
    a, b = _with_area(a, buffer), _with_area(b, buffer)
    if a.area == 0 and b.area == 0:
        return 1.0 if a.equals(b) else 0.0
    if not a.intersects(b):
        return 0.0
    intersection = a.intersection(b).area
    union = a.area + b.area - intersection
    return intersection / union if union > 0 else 0.0


def match(
    a: Sequence[Feature],
    b: Sequence[Feature],
    *,
    threshold: float = IOU_THRESHOLD,
    buffer: float = 0.0,
) -> list[Match]:
    """Pairs of same-class features with IoU >= ``threshold``, greedily by decreasing IoU, one-to-one."""
    candidates: list[Match] = []
    for i, fa in enumerate(a):
        for j, fb in enumerate(b):
            if fa.label_class == fb.label_class:
                value = iou(fa.geometry, fb.geometry, buffer=buffer)
                if value >= threshold:
                    candidates.append(Match(i, j, value))
    candidates.sort(key=lambda m: (-m.iou, m.a, m.b))
    used_a: set[int] = set()
    used_b: set[int] = set()
    matches: list[Match] = []
    for candidate in candidates:
        if candidate.a not in used_a and candidate.b not in used_b:
            used_a.add(candidate.a)
            used_b.add(candidate.b)
            matches.append(candidate)
    return matches


def pair_agreement(a: Sequence[Feature], b: Sequence[Feature], *, buffer: float = 0.0) -> float:
    """matched / max(count_a, count_b); 1.0 when both are empty."""
    larger = max(len(a), len(b))
    return 1.0 if larger == 0 else len(match(a, b, buffer=buffer)) / larger


def mean_agreement(works: Sequence[Sequence[Feature]], *, buffer: float = 0.0) -> float | None:
    """The mean pair agreement over every pair of works; None with fewer than two."""
    values = [pair_agreement(a, b, buffer=buffer) for a, b in combinations(works, 2)]
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class ChipAgreement:
    chip_id: uuid.UUID
    labelers: list[dict[str, Any]]
    pairs: list[dict[str, Any]]
    agreement: float | None
    threshold: float

    @property
    def flagged(self) -> bool:
        return self.agreement is not None and self.agreement < self.threshold


def chip_buffers(session: Session, caller: Caller, chip_ids: list[uuid.UUID]) -> dict[uuid.UUID, float]:
    rows = session.execute(
        select(CHIPS.c.id, CHIPS.c.footprint).where(CHIPS.c.id.in_(chip_ids), readable(CHIPS, caller))
    )
    out: dict[uuid.UUID, float] = {}
    for chip_id, footprint in rows:
        west, south, east, north = to_shape(footprint).bounds
        out[chip_id] = LINEAR_BUFFER * max(east - west, north - south)
    return out


def _agreements(
    session: Session, caller: Caller, workflow: Workflow, chip_ids: list[uuid.UUID]
) -> list[ChipAgreement]:
    """The agreement of each chip among ``chip_ids``, over the handed-in replicas the caller may read."""
    tasks = list(
        session.execute(
            select(TASKS.c.id, TASKS.c.chip_id, TASKS.c.assignee, TASKS.c.state, User.username)
            .join(User, User.id == TASKS.c.assignee)
            .where(TASKS.c.chip_id.in_(chip_ids), TASKS.c.state.in_(DONE_STATES), readable(TASKS, caller))
            .order_by(TASKS.c.chip_id, TASKS.c.replica)
        ).mappings()
    )
    features: dict[tuple[uuid.UUID, uuid.UUID], list[Feature]] = defaultdict(list)
    annotations = session.execute(
        select(
            ANNOTATIONS.c.chip_id, ANNOTATIONS.c.created_by, ANNOTATIONS.c.label_class, ANNOTATIONS.c.geometry
        )
        .where(ANNOTATIONS.c.chip_id.in_(chip_ids), readable(ANNOTATIONS, caller))
        .order_by(ANNOTATIONS.c.created_at, ANNOTATIONS.c.id)
    )
    for chip_id, created_by, label_class, geometry in annotations:
        features[(chip_id, created_by)].append(Feature(label_class, to_shape(geometry)))
    buffers = chip_buffers(session, caller, chip_ids)
    by_chip: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for task in tasks:
        by_chip[task["chip_id"]].append(task)
    return [
        _chip_agreement(chip_id, by_chip[chip_id], features, buffers.get(chip_id, 0.0), workflow)
        for chip_id in chip_ids
    ]


def _chip_agreement(
    chip_id: uuid.UUID,
    tasks: list[Any],
    features: dict[tuple[uuid.UUID, uuid.UUID], list[Feature]],
    buffer: float,
    workflow: Workflow,
) -> ChipAgreement:
    works = [features.get((chip_id, t["assignee"]), []) for t in tasks]
    labelers = [
        {"task_id": t["id"], "username": t["username"], "state": t["state"], "features": len(w)}
        for t, w in zip(tasks, works, strict=True)
    ]
    pairs = [
        {
            "task_a": tasks[i]["id"],
            "task_b": tasks[j]["id"],
            "matched": len(match(works[i], works[j], buffer=buffer)),
            "agreement": pair_agreement(works[i], works[j], buffer=buffer),
        }
        for i, j in combinations(range(len(tasks)), 2)
    ]
    value = sum(p["agreement"] for p in pairs) / len(pairs) if pairs else None
    return ChipAgreement(chip_id, labelers, pairs, value, workflow.agreement_threshold)


def task_agreement(session: Session, caller: Caller, task_id: uuid.UUID) -> ChipAgreement:
    """The agreement on the chip of a task, for the project's reviewers and managers."""
    task = fetch_task(session, caller, task_id)
    require_project_role(caller, task["project_id"], *REVIEWER_ROLES)
    workflow = load_workflow(session, caller, task["project_id"])
    return _agreements(session, caller, workflow, [task["chip_id"]])[0]


def _chunks(items: list[uuid.UUID], size: int) -> Iterable[list[uuid.UUID]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def project_agreement(session: Session, caller: Caller, workflow: Workflow) -> dict[str, Any]:
    """Agreement over the project's chips with at least two handed-in replicas the caller may read."""
    compared = list(
        session.execute(
            select(TASKS.c.chip_id)
            .where(
                TASKS.c.project_id == workflow.project_id,
                TASKS.c.state.in_(DONE_STATES),
                readable(TASKS, caller),
            )
            .group_by(TASKS.c.chip_id)
            .having(func.count() >= 2)
            .order_by(TASKS.c.chip_id)
        ).scalars()
    )
    results: list[ChipAgreement] = []
    for chunk in _chunks(compared, CHUNK):
        results.extend(_agreements(session, caller, workflow, chunk))
    values = [r.agreement for r in results if r.agreement is not None]
    flagged = sorted((r for r in results if r.flagged), key=lambda r: (r.agreement, str(r.chip_id)))
    return {
        "consensus_k": workflow.consensus_k,
        "threshold": workflow.agreement_threshold,
        "chips_compared": len(values),
        "mean": sum(values) / len(values) if values else None,
        "flagged_count": len(flagged),
        "flagged": [{"chip_id": r.chip_id, "agreement": r.agreement} for r in flagged[:MAX_FLAGGED_LISTED]],
    }


def agreement_summary(session: Session, caller: Caller, project_id: uuid.UUID) -> dict[str, Any]:
    """The project's agreement summary, chips below the threshold listed first (lowest agreement first), for
    its managers: the part of ``project_progress`` about agreement, on its own."""
    workflow = load_workflow(session, caller, project_id)
    require_project_role(caller, project_id, "manager")
    return project_agreement(session, caller, workflow)
