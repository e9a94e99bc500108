"""Statistics: one labeler's (for themself and the project's managers, never for other labelers) and the
project's progress (managers). Every number is computed over the rows the viewer may read: a manager
without the clearance of some chips sees statistics without them, never a total that counts them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import any_, func, select
from sqlalchemy.orm import Session

from geo_label.db.access import readable
from geo_label.db.bulk import id_array
from geo_label.db.context import Caller
from geo_label.db.models import ANNOTATIONS, CHIPS, GOLD_CHIPS, GOLD_SCORES, TASK_REVIEWS, TASKS, User
from geo_label.errors import PermissionDeniedError
from geo_label.export.merge import DEFAULT_RULE, find_groups
from geo_label.projects import require_project_role
from geo_label.users import get_user
from geo_label.workflow.common import ACCEPTED, STATES, SUBMITTED
from geo_label.workflow.config import load_workflow
from geo_label.workflow.consensus import project_agreement


def _gold_summary(
    session: Session, caller: Caller, project_id: uuid.UUID, labeler: uuid.UUID
) -> dict[str, Any]:
    count, precision, recall, f1 = session.execute(
        select(
            func.count(),
            func.avg(GOLD_SCORES.c.precision),
            func.avg(GOLD_SCORES.c.recall),
            func.avg(GOLD_SCORES.c.f1),
        ).where(
            GOLD_SCORES.c.project_id == project_id,
            GOLD_SCORES.c.labeler == labeler,
            readable(GOLD_SCORES, caller),
        )
    ).one()
    return {"tasks": int(count), "precision": precision, "recall": recall, "f1": f1}


def labeler_stats(session: Session, caller: Caller, project_id: uuid.UUID, username: str) -> dict[str, Any]:
    """Tasks by state, tasks done, time on task, acceptance rate and gold score of one labeler."""
    load_workflow(session, caller, project_id)
    own = username == caller.username or "system" in caller.roles
    if not own and caller.role_in(project_id) != "manager":
        raise PermissionDeniedError("a labeler's statistics are for themself and the project's managers")
    user = get_user(session, username)
    by_state = {state: 0 for state in STATES if state != "open"}
    seconds = 0.0
    rows = session.execute(
        select(TASKS.c.state, func.count(), func.coalesce(func.sum(TASKS.c.work_seconds), 0.0))
        .where(TASKS.c.project_id == project_id, TASKS.c.assignee == user.id, readable(TASKS, caller))
        .group_by(TASKS.c.state)
    )
    for state, count, worked in rows:
        by_state[state] = int(count)
        seconds += float(worked)
    decision_rows = session.execute(
        select(TASK_REVIEWS.c.decision, func.count())
        .where(
            TASK_REVIEWS.c.project_id == project_id,
            TASK_REVIEWS.c.labeler == user.id,
            readable(TASK_REVIEWS, caller),
        )
        .group_by(TASK_REVIEWS.c.decision)
    )
    decisions: dict[str, int] = {str(decision): int(count) for decision, count in decision_rows}
    reviewed = sum(decisions.values())
    done = by_state[SUBMITTED] + by_state[ACCEPTED]
    return {
        "username": username,
        "project_id": project_id,
        "tasks": by_state,
        "tasks_done": done,
        "time_on_task_seconds": seconds,
        "mean_seconds_per_task": seconds / done if done else None,
        "reviews": {"accepted": int(decisions.get("accept", 0)), "rejected": int(decisions.get("reject", 0))},
        "acceptance_rate": int(decisions.get("accept", 0)) / reviewed if reviewed else None,
        "gold": _gold_summary(session, caller, project_id, user.id),
    }


def _gold_progress(session: Session, caller: Caller, project_id: uuid.UUID) -> dict[str, Any]:
    chips = session.execute(
        select(func.count()).where(GOLD_CHIPS.c.project_id == project_id, readable(GOLD_CHIPS, caller))
    ).scalar_one()
    per_labeler = session.execute(
        select(
            User.username,
            func.count(),
            func.avg(GOLD_SCORES.c.precision),
            func.avg(GOLD_SCORES.c.recall),
            func.avg(GOLD_SCORES.c.f1),
        )
        .join(User, User.id == GOLD_SCORES.c.labeler)
        .where(GOLD_SCORES.c.project_id == project_id, readable(GOLD_SCORES, caller))
        .group_by(User.username)
        .order_by(User.username)
    ).all()
    labelers = [
        {"username": name, "tasks": int(n), "precision": p, "recall": r, "f1": f}
        for name, n, p, r, f in per_labeler
    ]
    scored = sum(entry["tasks"] for entry in labelers)
    mean_f1 = sum(e["f1"] * e["tasks"] for e in labelers) / scored if scored else None
    return {"chips": int(chips), "scored_tasks": scored, "f1": mean_f1, "labelers": labelers}


def label_counts(session: Session, caller: Caller, project_id: uuid.UUID) -> dict[str, Any]:
    """Readable labels as features (as stored) and as objects (one object labeled on overlapping chips
    counts once, by the export's merge rule), in all and by class."""
    a = ANNOTATIONS
    mine = (a.c.project_id == project_id, readable(a, caller))
    counted = session.execute(select(a.c.label_class, func.count()).where(*mine).group_by(a.c.label_class))
    features: dict[str, int] = {str(label_class): int(count) for label_class, count in counted}
    objects = dict(features)
    selected = select(a.c.id, a.c.label_class, a.c.image_id, a.c.chip_id, a.c.geometry).where(*mine)
    groups = find_groups(session, selected, DEFAULT_RULE)
    if groups:
        heads = id_array([group[0] for group in groups])
        class_of = {
            head: str(label_class)
            for head, label_class in session.execute(
                select(a.c.id, a.c.label_class).where(a.c.id == any_(heads))
            )
        }
        for group in groups:
            objects[class_of[group[0]]] -= len(group) - 1
    return {
        "features": sum(features.values()),
        "objects": sum(objects.values()),
        "by_class": {
            name: {"features": features[name], "objects": objects[name]} for name in sorted(features)
        },
    }


def project_progress(session: Session, caller: Caller, project_id: uuid.UUID) -> dict[str, Any]:
    """Counts of readable tasks by state, the agreement summary and gold scores (managers)."""
    workflow = load_workflow(session, caller, project_id)
    require_project_role(caller, project_id, "manager")
    by_state = dict.fromkeys(STATES, 0)
    rows = session.execute(
        select(TASKS.c.state, func.count())
        .where(TASKS.c.project_id == project_id, readable(TASKS, caller))
        .group_by(TASKS.c.state)
    )
    for state, count in rows:
        by_state[state] = int(count)
    chips = session.execute(
        select(func.count()).where(CHIPS.c.project_id == project_id, readable(CHIPS, caller))
    ).scalar_one()
    return {
        "project_id": project_id,
        "settings": workflow.as_dict(),
        "chips": int(chips),
        "tasks": {"total": sum(by_state.values()), "by_state": by_state},
        "labels": label_counts(session, caller, project_id),
        "agreement": project_agreement(session, caller, workflow),
        "gold": _gold_progress(session, caller, project_id),
    }
