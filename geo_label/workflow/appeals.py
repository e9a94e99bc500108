"""Appeals (issue 15): a labeler may appeal a rejection of their task once, with a comment. The task goes back
to review, where a reviewer other than the one who rejected it decides; that decision stands (no second
appeal). The rejection, the appeal and the second review are all kept."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from geo_label.db.access import readable
from geo_label.db.context import Caller
from geo_label.db.models import TASK_APPEALS, TASK_REVIEWS, TASKS, User
from geo_label.errors import ConflictError, InvalidInputError, PermissionDeniedError
from geo_label.markings import marking_columns, marking_of
from geo_label.workflow.common import (
    REJECTED,
    SUBMITTED,
    fetch_task,
    record,
    require_state,
    require_user,
    set_work_status,
    utcnow,
)
from geo_label.workflow.config import load_workflow

MAX_COMMENT = 4000


def appeal_task(
    session: Session, caller: Caller, task_id: uuid.UUID, *, comment: str, now: datetime | None = None
) -> Any:
    """The labeler of a rejected task appeals its rejection: the task and its work are submitted again, for
    another reviewer; audited as ``task.appeal``."""
    now = now or utcnow()
    labeler = require_user(caller)
    text = comment.strip()
    if not text:
        raise InvalidInputError("an appeal needs a comment saying why the rejection is wrong")
    if len(text) > MAX_COMMENT:
        raise InvalidInputError(f"a comment has at most {MAX_COMMENT} characters")
    task = fetch_task(session, caller, task_id, lock=True)
    if task["assignee"] != labeler:
        raise PermissionDeniedError("only the labeler whose work was rejected appeals it")
    require_state(task, REJECTED)
    if pending_or_past_appeal(session, caller, task_id) is not None:
        raise ConflictError("this task was appealed once already: the second review's decision stands")
    rejection = session.execute(
        select(TASK_REVIEWS.c.id, TASK_REVIEWS.c.reviewer)
        .where(
            TASK_REVIEWS.c.task_id == task_id,
            TASK_REVIEWS.c.decision == "reject",
            readable(TASK_REVIEWS, caller),
        )
        .order_by(TASK_REVIEWS.c.at.desc(), TASK_REVIEWS.c.id.desc())
        .limit(1)
    ).one()
    appeal_id = uuid.uuid4()
    session.execute(
        insert(TASK_APPEALS).values(
            id=appeal_id,
            task_id=task_id,
            project_id=task["project_id"],
            labeler=labeler,
            rejected_review=rejection.id,
            rejected_by=rejection.reviewer,
            comment=text,
            at=now,
            derived_from=[f"task:{task_id}"],
            marked_by=labeler,
            **marking_columns(marking_of(task)),
        )
    )
    row = (
        session.execute(
            update(TASKS)
            .where(TASKS.c.id == task_id)
            .values(state=SUBMITTED, updated_at=now)
            .returning(*TASKS.c)
        )
        .mappings()
        .one()
    )
    workflow = load_workflow(session, caller, task["project_id"])
    features = set_work_status(session, caller, row, workflow, from_states=(REJECTED,), to_state=SUBMITTED)
    record(session, caller, "task.appeal", row, appeal_id=str(appeal_id), features=features)
    return row


def pending_or_past_appeal(session: Session, caller: Caller, task_id: uuid.UUID) -> Any:
    """The task's appeal, if it was ever appealed (at most once)."""
    return (
        session.execute(
            select(TASK_APPEALS).where(TASK_APPEALS.c.task_id == task_id, readable(TASK_APPEALS, caller))
        )
        .mappings()
        .one_or_none()
    )


def appeal_of(session: Session, caller: Caller, task_id: uuid.UUID) -> Any:
    """The task's appeal with the name of the reviewer whose rejection it appeals (None: never appealed)."""
    return (
        session.execute(
            select(TASK_APPEALS, User.username.label("rejected_by_name"))
            .join(User, User.id == TASK_APPEALS.c.rejected_by)
            .where(TASK_APPEALS.c.task_id == task_id, readable(TASK_APPEALS, caller))
        )
        .mappings()
        .one_or_none()
    )


def check_appeal_reviewer(session: Session, caller: Caller, task: Any) -> Any:
    """A task under appeal is decided by a reviewer other than the one who rejected it; the pending appeal
    (None when there is none)."""
    appeal = pending_or_past_appeal(session, caller, task["id"])
    if appeal is None or appeal["decided_review"] is not None:
        return None
    if appeal["rejected_by"] == caller.user_id:
        raise PermissionDeniedError(
            "this task is under appeal of your rejection: a reviewer other than you decides it"
        )
    return appeal


def close_appeal(session: Session, appeal: Any, review_id: uuid.UUID) -> None:
    session.execute(
        update(TASK_APPEALS).where(TASK_APPEALS.c.id == appeal["id"]).values(decided_review=review_id)
    )
