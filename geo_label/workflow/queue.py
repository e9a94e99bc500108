"""The task queue: tasks created lazily per chip and replica, handed out one at a time under leases.

``next_task`` picks a task whose lease lapsed, else the highest-priority open task the caller may read, with
``SELECT ... FOR UPDATE SKIP LOCKED`` inside the same access filter as every other read: concurrent callers
lock different rows, so no task is handed to two labelers and none is lost. A labeler's own requests are
serialized by a transaction advisory lock, so one labeler holds at most one lease per project and never two
replicas of one chip. A lapsed lease is the system's act in the audit: recorded when the task is taken
again, or when ``geo-label tasks release-expired`` returns it to the queue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, any_, cast, exists, func, literal, or_, select, true, update
from sqlalchemy.dialects.postgresql import UUID, array
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from access_control import roll_up
from geo_label import audit
from geo_label.annotations import audit_read
from geo_label.chips import get_chip
from geo_label.db.access import readable
from geo_label.db.context import Caller
from geo_label.db.models import CHIPS, TASKS
from geo_label.errors import InvalidInputError
from geo_label.markings import marking_of
from geo_label.projects import require_project_role
from geo_label.workflow.appeals import appeal_of
from geo_label.workflow.common import (
    ACCEPTED,
    IN_PROGRESS,
    LABELER_ROLES,
    OPEN,
    REJECTED,
    REVIEWER_ROLES,
    STATES,
    SUBMITTED,
    fetch_task,
    is_gold,
    record,
    require_holder,
    require_reader,
    require_user,
    set_work_status,
    utcnow,
)
from geo_label.workflow.config import Workflow, load_workflow
from geo_label.workflow.gold import score_task
from geo_label.workflow.review import task_reviews

MAX_PAGE = 1000
MARKING = ("classification", "sci_controls", "dissemination", "rel_to")


def ensure_tasks(
    session: Session, caller: Caller, project_id: uuid.UUID, *, workflow: Workflow | None = None
) -> int:
    """Insert the missing task rows (one per readable chip and replica) of a project; idempotent. Each task
    copies its chip's marking. Returns how many were created."""
    workflow = workflow or load_workflow(session, caller, project_id)
    replicas = func.generate_series(0, workflow.consensus_k - 1)
    series = replicas.table_valued("replica").render_derived(name="replicas")
    replica = series.c.replica
    missing = ~exists().where(TASKS.c.chip_id == CHIPS.c.id, TASKS.c.replica == replica)
    source = (
        select(
            CHIPS.c.project_id,
            CHIPS.c.id,
            replica,
            *(CHIPS.c[name] for name in MARKING),
            array([literal("chip:") + cast(CHIPS.c.id, Text)]),
            literal(caller.user_id, UUID(as_uuid=True)),
        )
        .select_from(CHIPS.join(series, true()))
        .where(CHIPS.c.project_id == project_id, readable(CHIPS, caller), missing)
        .order_by(CHIPS.c.id, replica)  # one order for every caller: concurrent inserts cannot deadlock
    )
    columns = ["project_id", "chip_id", "replica", *MARKING, "derived_from", "marked_by"]
    inserted = (
        pg_insert(TASKS)
        .from_select(columns, source)
        .on_conflict_do_nothing(index_elements=["chip_id", "replica"])
        .returning(*(TASKS.c[name] for name in MARKING))
        .cte("inserted")
    )
    groups = session.execute(
        select(*(inserted.c[name] for name in MARKING), func.count()).group_by(
            *(inserted.c[name] for name in MARKING)
        )
    ).all()
    created = sum(int(g[-1]) for g in groups)
    if created:
        audit.record(
            session,
            caller,
            "task.create",
            item_type="project",
            item_id=project_id,
            project_id=project_id,
            marking=roll_up(marking_of(dict(zip(MARKING, g[:-1], strict=True))) for g in groups),
            details={"count": created, "consensus_k": workflow.consensus_k},
        )
    return created


def release_expired(session: Session, caller: Caller, project_id: uuid.UUID, *, now: datetime) -> int:
    """Return tasks whose lease lapsed to the queue. The labeler's drafts stay: annotations are not touched.
    Rows another transaction holds are skipped, never waited for."""
    expired = (
        session.execute(
            select(TASKS)
            .where(
                TASKS.c.project_id == project_id,
                TASKS.c.state == IN_PROGRESS,
                TASKS.c.lease_expires_at <= now,
                readable(TASKS, caller),
            )
            .with_for_update(skip_locked=True, of=TASKS)
        )
        .mappings()
        .all()
    )
    if not expired:
        return 0
    session.execute(
        update(TASKS)
        .where(TASKS.c.id.in_([t["id"] for t in expired]))
        .values(state=OPEN, assignee=None, lease_expires_at=None, started_at=None, updated_at=now)
    )
    for task in expired:
        _record_lapse(session, task, task["assignee"], task["lease_expires_at"])
    return len(expired)


def _record_lapse(session: Session, task: Any, holder: uuid.UUID, lapsed_at: datetime) -> None:
    """A lease that lapsed is the system's act, whoever's request finds it."""
    record(
        session,
        None,
        "task.lease_expired",
        task,
        previous_assignee=str(holder),
        lease_expired_at=lapsed_at.isoformat(),
    )


def _serialize_labeler(session: Session, user_id: uuid.UUID, project_id: uuid.UUID) -> None:
    key = func.hashtextextended(literal(f"geo_label.next_task:{user_id}:{project_id}"), 0)
    session.execute(select(func.pg_advisory_xact_lock(key)))


def _lease_values(workflow: Workflow, now: datetime) -> dict[str, Any]:
    return {
        "state": IN_PROGRESS,
        "lease_expires_at": now + timedelta(minutes=workflow.lease_minutes),
        "started_at": now,
        "last_seen_at": now,
        "updated_at": now,
    }


def _own_task(session: Session, caller: Caller, project_id: uuid.UUID, now: datetime) -> Any:
    """The caller's own task in the project, locked: the one they hold (a live lease), else one a reviewer
    sent back to them (highest priority first), which comes back to them before new work. One statement on
    ``tasks_assignee``. Locked, and waited for: a concurrent submit or skip of the same task (another tab)
    either finishes first, and the task is no longer theirs, or waits for this lease; skipping it instead
    would hand the labeler a second lease."""
    holding = and_(TASKS.c.state == IN_PROGRESS, TASKS.c.lease_expires_at > now)
    query = (
        select(TASKS)
        .where(
            TASKS.c.assignee == caller.user_id,
            TASKS.c.project_id == project_id,
            or_(holding, TASKS.c.state == REJECTED),
            readable(TASKS, caller),
        )
        .order_by(
            TASKS.c.state == REJECTED,  # false first: the held task
            TASKS.c.started_at,
            TASKS.c.priority.desc(),
            TASKS.c.updated_at,
            TASKS.c.id,
        )
        .limit(1)
        .with_for_update(of=TASKS)
    )
    return session.execute(query).mappings().one_or_none()


def _claimable(caller: Caller, project_id: uuid.UUID, consensus_k: int) -> list[ColumnElement[bool]]:
    """A task of the project the caller may take, whatever its state: they may read it, have not skipped it,
    and have not labeled another replica of its chip."""
    conditions = [
        TASKS.c.project_id == project_id,
        readable(TASKS, caller),
        ~(literal(caller.user_id, UUID(as_uuid=True)) == any_(TASKS.c.skipped_by)),
    ]
    if consensus_k > 1:  # with one task per chip, an open task has no replica the caller labeled
        other = TASKS.alias("other")
        conditions.append(
            ~exists().where(other.c.chip_id == TASKS.c.chip_id, other.c.assignee == caller.user_id)
        )
    return conditions


def _take_lapsed(
    session: Session,
    caller: Caller,
    project_id: uuid.UUID,
    consensus_k: int,
    values: dict[str, Any],
    now: datetime,
) -> Any:
    """Lease to the caller a task whose lease lapsed (its holder's drafts stay on the chip), the longest
    lapsed first, in one statement on ``tasks_leases``; rows locked by concurrent callers are skipped. The
    row with the lapsed lease's ``previous_assignee`` and ``lapsed_at``, or None.

    A lapsed task is taken before open ones: it was at the head of the queue when it was first handed out.
    Only the task taken is touched: other people's lapsed leases stay as they are until someone takes them
    or ``geo-label tasks release-expired`` returns them to the queue."""
    lapsed = (
        select(TASKS.c.id, TASKS.c.assignee, TASKS.c.lease_expires_at)
        .where(
            *_claimable(caller, project_id, consensus_k),
            TASKS.c.state == IN_PROGRESS,
            TASKS.c.lease_expires_at <= now,
        )
        .order_by(TASKS.c.lease_expires_at, TASKS.c.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=TASKS)
        .cte("lapsed")
    )
    taken = (
        update(TASKS)
        .where(TASKS.c.id == lapsed.c.id)
        .values(**values)
        .returning(
            *TASKS.c,
            lapsed.c.assignee.label("previous_assignee"),
            lapsed.c.lease_expires_at.label("lapsed_at"),
        )
    )
    return session.execute(taken).mappings().one_or_none()


def _lease_next(
    session: Session, caller: Caller, project_id: uuid.UUID, consensus_k: int, values: dict[str, Any]
) -> Any:
    """Lease the highest-priority open task the caller may take, in one statement; rows locked by concurrent
    callers are skipped. It walks ``tasks_queue`` in order and stops at the first such task (its cost does
    not grow with the queue: see docs/performance.md). The leased row, or None."""
    first = (
        select(TASKS.c.id)
        .where(*_claimable(caller, project_id, consensus_k), TASKS.c.state == OPEN)
        .order_by(TASKS.c.priority.desc(), TASKS.c.replica, TASKS.c.created_at, TASKS.c.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=TASKS)
        .scalar_subquery()
    )
    leased = session.execute(update(TASKS).where(TASKS.c.id == first).values(**values).returning(*TASKS.c))
    return leased.mappings().one_or_none()


def next_task(session: Session, caller: Caller, project_id: uuid.UUID, *, now: datetime | None = None) -> Any:
    """Lease the caller's next task in the project (None when there is none): the task they already hold,
    else one of theirs sent back by a reviewer, else the highest-priority open task they may read."""
    now = now or utcnow()
    user_id = require_user(caller)
    workflow = load_workflow(session, caller, project_id)
    require_project_role(caller, project_id, *LABELER_ROLES)
    _serialize_labeler(session, user_id, project_id)
    if workflow.consensus_k > 1:
        # Ingest creates every chip's tasks (as the operator, who reads every chip); raising k later adds the
        # replicas of the chips the manager can read at once, and those of the others here, as each labeler
        # who may read them asks. With one labeler per chip nothing can be missing: no scan per request.
        ensure_tasks(session, caller, project_id, workflow=workflow)
    own = _own_task(session, caller, project_id, now)
    if own is not None and own["state"] == IN_PROGRESS:
        return own
    values = _lease_values(workflow, now)
    if own is not None:  # sent back by a reviewer
        action = "task.resume"
        resumed = update(TASKS).where(TASKS.c.id == own["id"]).values(**values).returning(*TASKS.c)
        row = session.execute(resumed).mappings().one()
    else:
        action = "task.lease"
        values.update(assignee=user_id, work_seconds=0.0)
        row = _take_lapsed(session, caller, project_id, workflow.consensus_k, values, now)
        if row is not None:
            _record_lapse(session, row, row["previous_assignee"], row["lapsed_at"])
        else:
            row = _lease_next(session, caller, project_id, workflow.consensus_k, values)
        if row is None:
            return None
    record(session, caller, action, row, lease_expires_at=row["lease_expires_at"].isoformat())
    return row


def heartbeat(session: Session, caller: Caller, task_id: uuid.UUID, *, now: datetime | None = None) -> Any:
    """Extend the caller's live lease by the project's lease length (a lease, not a state change: not
    audited, or every open editor would write to the audit chain every few minutes)."""
    now = now or utcnow()
    task = fetch_task(session, caller, task_id, lock=True)
    require_holder(caller, task, now)
    workflow = load_workflow(session, caller, task["project_id"])
    result = session.execute(
        update(TASKS)
        .where(TASKS.c.id == task_id)
        .values(lease_expires_at=now + timedelta(minutes=workflow.lease_minutes), last_seen_at=now)
        .returning(*TASKS.c)
    )
    return result.mappings().one()


def skip(session: Session, caller: Caller, task_id: uuid.UUID, *, now: datetime | None = None) -> Any:
    """Give a leased (or rejected) task back to the queue; the caller will not be offered it again. Drafts
    stay on the chip."""
    now = now or utcnow()
    task = fetch_task(session, caller, task_id, lock=True)
    if not (task["state"] == REJECTED and task["assignee"] == caller.user_id):
        require_holder(caller, task, now)
    result = session.execute(
        update(TASKS)
        .where(TASKS.c.id == task_id)
        .values(
            state=OPEN,
            assignee=None,
            lease_expires_at=None,
            started_at=None,
            skipped_by=func.array_append(TASKS.c.skipped_by, caller.user_id),
            updated_at=now,
        )
        .returning(*TASKS.c)
    )
    row = result.mappings().one()
    record(session, caller, "task.skip", row, previous_state=task["state"])
    return row


def submit(session: Session, caller: Caller, task_id: uuid.UUID, *, now: datetime | None = None) -> Any:
    """Hand in the work: submitted for review, or accepted at once when the project needs no review. The
    time on task (lease start to submission, capped by the lease) is added up; a gold task is scored."""
    now = now or utcnow()
    task = fetch_task(session, caller, task_id, lock=True)
    require_holder(caller, task, now)
    workflow = load_workflow(session, caller, task["project_id"])
    state = SUBMITTED if workflow.review_required else ACCEPTED
    worked = max(0.0, (min(now, task["lease_expires_at"]) - task["started_at"]).total_seconds())
    result = session.execute(
        update(TASKS)
        .where(TASKS.c.id == task_id)
        .values(
            state=state,
            lease_expires_at=None,
            submitted_at=now,
            last_seen_at=now,
            submissions=TASKS.c.submissions + 1,
            work_seconds=TASKS.c.work_seconds + worked,
            updated_at=now,
        )
        .returning(*TASKS.c)
    )
    row = result.mappings().one()
    handed_in = ("draft", REJECTED) if state == SUBMITTED else ("draft", REJECTED, SUBMITTED)
    features = set_work_status(session, caller, row, workflow, from_states=handed_in, to_state=state)
    score = score_task(session, caller, row, workflow)
    record(session, caller, "task.submit", row, state=state, features=features, gold=score is not None)
    return row


@dataclass(frozen=True)
class TaskDetail:
    task: Any
    chip: Any
    reviews: list[Any]
    gold: bool | None  # None: not shown to this caller (labelers are not told which tasks are gold)
    #: The task's appeal of a rejection (issue 15), with the rejecting reviewer's name; None: never appealed.
    appeal: Any = None


def describe(session: Session, caller: Caller, task: Any) -> TaskDetail:
    """A task with its chip and reviews (the reviewer's comments reach the labeler this way); whether it is
    gold only for the project's reviewers and managers."""
    reviewer = caller.role_in(task["project_id"]) in REVIEWER_ROLES or "system" in caller.roles
    # Only a submitted task is reviewed: one never submitted (every fresh lease) has no reviews to read.
    reviewed = task["submissions"] > 0
    return TaskDetail(
        task=task,
        chip=get_chip(session, caller, task["chip_id"]),
        reviews=task_reviews(session, caller, task["id"]) if reviewed else [],
        gold=is_gold(session, caller, task["chip_id"]) if reviewer else None,
        appeal=appeal_of(session, caller, task["id"]) if reviewed else None,
    )


def get_task(session: Session, caller: Caller, task_id: uuid.UUID) -> TaskDetail:
    """A task for its labeler and the project's reviewers and managers."""
    task = fetch_task(session, caller, task_id)
    require_reader(caller, task)
    audit_read(session, caller, "task", [task])
    return describe(session, caller, task)


def list_tasks(
    session: Session,
    caller: Caller,
    project_id: uuid.UUID,
    *,
    state: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Any], int]:
    """A page of the project's readable tasks and their number (the same filter for both): reviewers and
    managers."""
    load_workflow(session, caller, project_id)
    require_project_role(caller, project_id, *REVIEWER_ROLES)
    if state is not None and state not in STATES:
        raise InvalidInputError(f"state must be one of {', '.join(STATES)}")
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidInputError(f"limit must be 1..{MAX_PAGE} and offset >= 0")
    query = select(TASKS).where(TASKS.c.project_id == project_id, readable(TASKS, caller))
    if state is not None:
        query = query.where(TASKS.c.state == state)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = list(
        session.execute(
            query.order_by(TASKS.c.priority.desc(), TASKS.c.replica, TASKS.c.created_at, TASKS.c.id)
            .limit(limit)
            .offset(offset)
        ).mappings()
    )
    audit_read(session, caller, "task", rows)
    return rows, int(total)
