"""A labeler's recent work across their projects: the tasks assigned to them, and those they handed in that
have since left them (a rejected task they skipped), newest first.

Every table is read through the access filter (and row-level security underneath): a task whose marking the
caller may no longer read (a lowered clearance, a lost membership) is never listed, nor is a review of it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, true, union
from sqlalchemy.orm import Session

from geo_label.annotations import audit_read
from geo_label.db.access import project_visible, readable
from geo_label.db.context import Caller
from geo_label.db.models import PROJECTS, TASK_REVIEWS, TASKS, User
from geo_label.errors import InvalidInputError
from geo_label.workflow.common import REJECTED, require_user

DEFAULT_RECENT = 20
MAX_RECENT = 100


def own_task_ids(caller: Caller, user_id: uuid.UUID) -> Any:
    """Ids of the caller's tasks: assigned to them, or reviewed as their work. Two indexed selects in a union
    (an OR with an EXISTS would scan every task)."""
    assigned = select(TASKS.c.id).where(TASKS.c.assignee == user_id, readable(TASKS, caller))
    handed_in = select(TASK_REVIEWS.c.task_id).where(
        TASK_REVIEWS.c.labeler == user_id, readable(TASK_REVIEWS, caller)
    )
    return union(assigned, handed_in)


def latest_review(caller: Caller) -> Any:
    """The latest readable review of each task (a lateral subquery on TASKS): decision, comment, reviewer."""
    return (
        select(TASK_REVIEWS.c.decision, TASK_REVIEWS.c.comment, User.username.label("reviewer"))
        .join(User, User.id == TASK_REVIEWS.c.reviewer)
        .where(TASK_REVIEWS.c.task_id == TASKS.c.id, readable(TASK_REVIEWS, caller))
        .order_by(TASK_REVIEWS.c.at.desc(), TASK_REVIEWS.c.id.desc())
        .limit(1)
        .lateral("latest_review")
    )


def recent_tasks(session: Session, caller: Caller, *, limit: int = DEFAULT_RECENT) -> list[dict[str, Any]]:
    """The caller's ``limit`` most recently changed tasks, newest first, each with its project's name,
    ``assigned`` (still assigned to the caller) and, for a task rejected back to them, the reviewer's
    comment and name (``review_comment``, ``reviewer``; None otherwise)."""
    user_id = require_user(caller)
    if not 1 <= limit <= MAX_RECENT:
        raise InvalidInputError(f"limit must be 1..{MAX_RECENT}")
    latest = latest_review(caller)
    query = (
        select(
            TASKS,
            PROJECTS.c.name.label("project_name"),
            latest.c.decision.label("review_decision"),
            latest.c.comment.label("review_comment"),
            latest.c.reviewer.label("reviewer"),
        )
        .join(PROJECTS, PROJECTS.c.id == TASKS.c.project_id)
        .outerjoin(latest, true())
        .where(
            TASKS.c.id.in_(own_task_ids(caller, user_id)),
            readable(TASKS, caller),
            project_visible(PROJECTS, caller),
        )
        .order_by(TASKS.c.updated_at.desc(), TASKS.c.id.desc())
        .limit(limit)
    )
    rows = []
    for row in session.execute(query).mappings():
        item = dict(row)
        decision = item.pop("review_decision")
        if not (item["state"] == REJECTED and decision == "reject"):
            item["review_comment"] = item["reviewer"] = None
        item["assigned"] = item["assignee"] == user_id
        rows.append(item)
    audit_read(session, caller, "task", rows)
    return rows
