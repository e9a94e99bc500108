"""A project's workflow settings: review required, lease length, consensus replicas, agreement threshold."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, SmallInteger, Table, select, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Session

from access_control import Marking
from geo_label import audit
from geo_label.db.context import Caller
from geo_label.errors import InvalidInputError
from geo_label.markings import marking_of
from geo_label.projects import get_project, require_project_role

#: The workflow columns migration 0002 added to ``projects`` (the ``Project`` mapping predates them). Its own
#: MetaData: this is a narrow view of the same table, not a second mapping of it.
PROJECT_WORKFLOW = Table(
    "projects",
    MetaData(),
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("review_required", Boolean),
    Column("lease_minutes", Integer),
    Column("consensus_k", SmallInteger),
    Column("agreement_threshold", Float),
)

MAX_LEASE_MINUTES = 7 * 24 * 60
MAX_CONSENSUS = 10


@dataclass(frozen=True)
class Workflow:
    project_id: uuid.UUID
    review_required: bool
    lease_minutes: int
    consensus_k: int
    agreement_threshold: float
    marking: Marking

    def as_dict(self) -> dict[str, Any]:
        return {
            "review_required": self.review_required,
            "lease_minutes": self.lease_minutes,
            "consensus_k": self.consensus_k,
            "agreement_threshold": self.agreement_threshold,
        }


@dataclass(frozen=True)
class WorkflowChanges:
    review_required: bool | None = None
    lease_minutes: int | None = None
    consensus_k: int | None = None
    agreement_threshold: float | None = None

    def values(self) -> dict[str, Any]:
        if self.lease_minutes is not None and not 1 <= self.lease_minutes <= MAX_LEASE_MINUTES:
            raise InvalidInputError(f"lease_minutes must be 1..{MAX_LEASE_MINUTES}")
        if self.consensus_k is not None and not 1 <= self.consensus_k <= MAX_CONSENSUS:
            raise InvalidInputError(f"consensus_k must be 1..{MAX_CONSENSUS}")
        if self.agreement_threshold is not None and not 0.0 <= self.agreement_threshold <= 1.0:
            raise InvalidInputError("agreement_threshold must be between 0 and 1")
        fields = ("review_required", "lease_minutes", "consensus_k", "agreement_threshold")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}


def load_workflow(session: Session, caller: Caller, project_id: uuid.UUID) -> Workflow:
    """The settings of a project the caller may see (a hidden project is missing: NotFoundError)."""
    project = get_project(session, caller, project_id)
    row = (
        session.execute(select(PROJECT_WORKFLOW).where(PROJECT_WORKFLOW.c.id == project_id)).mappings().one()
    )
    return Workflow(
        project_id=project_id,
        review_required=bool(row["review_required"]),
        lease_minutes=int(row["lease_minutes"]),
        consensus_k=int(row["consensus_k"]),
        agreement_threshold=float(row["agreement_threshold"]),
        marking=marking_of(project),
    )


def update_workflow(
    session: Session, caller: Caller, project_id: uuid.UUID, changes: WorkflowChanges
) -> Workflow:
    """The project's managers (or an admin) change its workflow settings. Raising ``consensus_k`` adds the
    replicas of every chip the caller may read now (and of the others as labelers who may read them ask for
    work); lowering it leaves existing replicas alone."""
    before = load_workflow(session, caller, project_id)
    if not caller.is_admin:
        require_project_role(caller, project_id, "manager")
    values = changes.values()
    if values:
        session.execute(update(PROJECT_WORKFLOW).where(PROJECT_WORKFLOW.c.id == project_id).values(**values))
        audit.record(
            session,
            caller,
            "project.workflow",
            item_type="project",
            item_id=project_id,
            project_id=project_id,
            marking=before.marking,
            details={"before": before.as_dict(), "changes": values},
        )
    after = load_workflow(session, caller, project_id)
    if after.consensus_k > before.consensus_k:
        from geo_label.workflow.queue import ensure_tasks  # queue builds on this module

        ensure_tasks(session, caller, project_id, workflow=after)
    return after
