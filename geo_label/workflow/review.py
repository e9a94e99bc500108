"""Review: a reviewer (or manager) accepts or rejects submitted work; the decision and comment are kept.
A rejected task goes back to its labeler (``next_task`` offers it to them first) with the comment."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.orm import Session

from geo_label.db.access import readable
from geo_label.db.context import Caller
from geo_label.db.models import ANNOTATIONS, TASK_REVIEWS, TASKS, User
from geo_label.errors import InvalidInputError, PermissionDeniedError
from geo_label.markings import marking_columns, marking_of
from geo_label.projects import require_project_role
from geo_label.workflow.appeals import check_appeal_reviewer, close_appeal
from geo_label.workflow.common import (
    ACCEPTED,
    REJECTED,
    REVIEWER_ROLES,
    SUBMITTED,
    fetch_task,
    record,
    require_state,
    require_user,
    set_work_status,
    utcnow,
    work_filter,
)
from geo_label.workflow.config import Workflow, load_workflow

DECISIONS = ("accept", "reject")
MAX_COMMENT = 4000


def task_reviews(session: Session, caller: Caller, task_id: uuid.UUID) -> list[Any]:
    """The readable reviews of a task, oldest first, with the reviewer's name."""
    query = (
        select(TASK_REVIEWS, User.username.label("reviewer_name"))
        .join(User, User.id == TASK_REVIEWS.c.reviewer)
        .where(TASK_REVIEWS.c.task_id == task_id, readable(TASK_REVIEWS, caller))
        .order_by(TASK_REVIEWS.c.at, TASK_REVIEWS.c.id)
    )
    return list(session.execute(query).mappings())


def _check_input(decision: str, comment: str) -> str:
    if decision not in DECISIONS:
        raise InvalidInputError(f"decision must be one of {', '.join(DECISIONS)}")
    text = comment.strip()
    if decision == "reject" and not text:
        raise InvalidInputError("a rejection needs a comment telling the labeler what to fix")
    if len(text) > MAX_COMMENT:
        raise InvalidInputError(f"a comment has at most {MAX_COMMENT} characters")
    return text


def _require_independent(session: Session, caller: Caller, task: Any) -> None:
    """Reviewers never review their own work, nor another labeler's work on a chip they labeled too."""
    if task["assignee"] == caller.user_id:
        raise PermissionDeniedError("reviewers never review their own work")
    labeled = session.execute(
        select(
            exists().where(
                TASKS.c.chip_id == task["chip_id"],
                TASKS.c.assignee == caller.user_id,
                readable(TASKS, caller),
            )
        )
    ).scalar_one()
    if labeled:
        raise PermissionDeniedError("you labeled this chip yourself: another reviewer must review it")


def _require_none_of_own(session: Session, caller: Caller, task: Any, workflow: Workflow) -> None:
    """Never one's own work, annotation by annotation: a reviewer who drew on the task's chip (an annotation
    the decision would accept or reject) leaves the decision to another reviewer."""
    own = session.execute(
        select(
            exists().where(
                *work_filter(task, workflow),
                ANNOTATIONS.c.created_by == caller.user_id,
                readable(ANNOTATIONS, caller),
            )
        )
    ).scalar_one()
    if own:
        raise PermissionDeniedError("this task holds annotations you drew: another reviewer must review it")


def review_task(
    session: Session,
    caller: Caller,
    task_id: uuid.UUID,
    *,
    decision: str,
    comment: str = "",
    now: datetime | None = None,
) -> Any:
    """Accept or reject a submitted task; its annotations follow (accepted or rejected, reviewed_by)."""
    now = now or utcnow()
    text = _check_input(decision, comment)
    reviewer = require_user(caller)
    task = fetch_task(session, caller, task_id, lock=True)
    require_project_role(caller, task["project_id"], *REVIEWER_ROLES)
    _require_independent(session, caller, task)
    require_state(task, SUBMITTED)
    appeal = check_appeal_reviewer(session, caller, task)
    workflow = load_workflow(session, caller, task["project_id"])
    _require_none_of_own(session, caller, task, workflow)
    review_id = uuid.uuid4()
    session.execute(
        insert(TASK_REVIEWS).values(
            id=review_id,
            task_id=task_id,
            project_id=task["project_id"],
            chip_id=task["chip_id"],
            reviewer=reviewer,
            labeler=task["assignee"],
            decision=decision,
            comment=text,
            at=now,
            derived_from=[f"task:{task_id}"],
            marked_by=reviewer,
            **marking_columns(marking_of(task)),
        )
    )
    if appeal is not None:
        close_appeal(session, appeal, review_id)
    state = ACCEPTED if decision == "accept" else REJECTED
    row = (
        session.execute(
            update(TASKS).where(TASKS.c.id == task_id).values(state=state, updated_at=now).returning(*TASKS.c)
        )
        .mappings()
        .one()
    )
    features = set_work_status(
        session, caller, row, workflow, from_states=(SUBMITTED,), to_state=state, reviewed=True
    )
    record(
        session, caller, "task.review", row, decision=decision, review_id=str(review_id), features=features
    )
    return row
