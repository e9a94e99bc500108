"""What the workflow services share: states and roles, a task fetched through the access filter, the
annotations that are a task's work, and the audit record of a task's state change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select, update
from sqlalchemy.orm import Session

from geo_label import audit
from geo_label.db.access import readable
from geo_label.db.context import SYSTEM_ACTOR, Caller
from geo_label.db.models import ANNOTATIONS, GOLD_CHIPS, TASKS
from geo_label.errors import ConflictError, NotFoundError, PermissionDeniedError
from geo_label.markings import marking_of
from geo_label.projects import require_project_role
from geo_label.workflow.config import Workflow

OPEN, IN_PROGRESS, SUBMITTED, ACCEPTED, REJECTED = "open", "in_progress", "submitted", "accepted", "rejected"
STATES = (OPEN, IN_PROGRESS, SUBMITTED, ACCEPTED, REJECTED)
#: Work handed in: what consensus compares and gold scores.
DONE_STATES = (SUBMITTED, ACCEPTED)
LABELER_ROLES = ("labeler", "reviewer", "manager")
REVIEWER_ROLES = ("reviewer", "manager")


def utcnow() -> datetime:
    return datetime.now(UTC)


def require_user(caller: Caller) -> uuid.UUID:
    """Tasks are leased to people: the command-line operator has no account to assign them to."""
    if caller.user_id is None:
        raise PermissionDeniedError("tasks are assigned to user accounts")
    return caller.user_id


def fetch_task(session: Session, caller: Caller, task_id: uuid.UUID, *, lock: bool = False) -> Any:
    """A task the caller may read (else NotFoundError, as for a missing one), optionally locked for update."""
    query = select(TASKS).where(TASKS.c.id == task_id, readable(TASKS, caller))
    if lock:
        query = query.with_for_update(of=TASKS)
    row = session.execute(query).mappings().one_or_none()
    if row is None:
        raise NotFoundError("task")
    return row


def require_reader(caller: Caller, task: Any) -> None:
    """A task is read by its labeler and by the project's reviewers and managers."""
    if task["assignee"] is not None and task["assignee"] == caller.user_id:
        return
    require_project_role(caller, task["project_id"], *REVIEWER_ROLES)


def require_holder(caller: Caller, task: Any, now: datetime) -> None:
    """The caller holds a live lease on the task (heartbeat, submit, skip)."""
    if task["state"] == OPEN:
        raise ConflictError("the task is open, not leased to you (a lease that expired returns the task)")
    if task["assignee"] != caller.user_id:
        raise PermissionDeniedError("this task is assigned to another labeler")
    if task["state"] != IN_PROGRESS:
        raise ConflictError(f"the task is {task['state']}, not in progress")
    if task["lease_expires_at"] <= now:
        raise ConflictError("your lease on this task expired; ask for the next task to take it again")


def work_filter(task: Any, workflow: Workflow) -> list[ColumnElement[bool]]:
    """The annotations that are a task's work: with one labeler per chip, everything on the chip (a task
    taken over after a lapsed lease continues the drafts left on it); with consensus, the assignee's own."""
    conditions: list[ColumnElement[bool]] = [ANNOTATIONS.c.chip_id == task["chip_id"]]
    if workflow.consensus_k > 1:
        conditions.append(ANNOTATIONS.c.created_by == task["assignee"])
    return conditions


def is_gold(session: Session, caller: Caller, chip_id: uuid.UUID) -> bool:
    query = select(exists().where(GOLD_CHIPS.c.chip_id == chip_id, readable(GOLD_CHIPS, caller)))
    return bool(session.execute(query).scalar_one())


def record(session: Session, caller: Caller | None, action: str, task: Any, **details: Any) -> None:
    """Audit a task's state change, under the task's (the chip's) marking; ``caller`` None: the system's act
    (a lease that lapsed)."""
    audit.record(
        session,
        caller,
        action,
        actor_name=None if caller is not None else SYSTEM_ACTOR,
        item_type="task",
        item_id=task["id"],
        project_id=task["project_id"],
        marking=marking_of(task),
        details={"chip_id": str(task["chip_id"]), "replica": task["replica"], **details},
    )


def require_state(task: Any, *states: str) -> None:
    if task["state"] not in states:
        raise ConflictError(f"the task is {task['state']}; this needs it {' or '.join(states)}")


def set_work_status(
    session: Session,
    caller: Caller,
    task: Any,
    workflow: Workflow,
    *,
    from_states: tuple[str, ...],
    to_state: str,
    reviewed: bool = False,
) -> int:
    """Carry a task's state over to the annotations that are its work (new versions, kept in history)."""
    values: dict[str, Any] = {
        "status": to_state,
        "version": ANNOTATIONS.c.version + 1,
        "updated_by": caller.user_id,
        "updated_at": func.now(),
    }
    if reviewed:
        values["reviewed_by"] = caller.user_id
    result = session.execute(
        update(ANNOTATIONS)
        .where(
            *work_filter(task, workflow), ANNOTATIONS.c.status.in_(from_states), readable(ANNOTATIONS, caller)
        )
        .values(**values)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
