"""A project's workflow settings: review required, lease length, consensus replicas, agreement threshold, and
the queue's order (the default, or by a model's predictions: geo_label.workflow.ordering)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from access_control import Marking
from geo_label.db.context import Caller
from geo_label.errors import InvalidInputError
from geo_label.markings import marking_of
from geo_label.projects import get_project

MAX_LEASE_MINUTES = 7 * 24 * 60
MAX_CONSENSUS = 10
#: The queue's orders: the default (priority, then creation), what the model is least sure about, or most
#: predicted objects first (geo_label.workflow.ordering).
QUEUE_ORDERS = ("default", "uncertain", "most_objects")
QUEUE_FIELDS = ("queue_order", "queue_model_id", "queue_threshold")


@dataclass(frozen=True)
class Workflow:
    project_id: uuid.UUID
    review_required: bool
    lease_minutes: int
    consensus_k: int
    agreement_threshold: float
    marking: Marking
    queue_order: str = "default"
    queue_model_id: uuid.UUID | None = None
    queue_threshold: float = 0.5

    def as_dict(self) -> dict[str, Any]:
        return {
            "review_required": self.review_required,
            "lease_minutes": self.lease_minutes,
            "consensus_k": self.consensus_k,
            "agreement_threshold": self.agreement_threshold,
            "queue_order": self.queue_order,
            "queue_model_id": str(self.queue_model_id) if self.queue_model_id else None,
            "queue_threshold": self.queue_threshold,
        }


@dataclass(frozen=True)
class WorkflowChanges:
    review_required: bool | None = None
    lease_minutes: int | None = None
    consensus_k: int | None = None
    agreement_threshold: float | None = None
    queue_order: str | None = None
    #: The model version whose predictions order the queue: NAME@VERSION or its id.
    queue_model: str | None = None
    queue_threshold: float | None = None

    def values(self) -> dict[str, Any]:
        if self.lease_minutes is not None and not 1 <= self.lease_minutes <= MAX_LEASE_MINUTES:
            raise InvalidInputError(f"lease_minutes must be 1..{MAX_LEASE_MINUTES}")
        if self.consensus_k is not None and not 1 <= self.consensus_k <= MAX_CONSENSUS:
            raise InvalidInputError(f"consensus_k must be 1..{MAX_CONSENSUS}")
        if self.agreement_threshold is not None and not 0.0 <= self.agreement_threshold <= 1.0:
            raise InvalidInputError("agreement_threshold must be between 0 and 1")
        if self.queue_order is not None and self.queue_order not in QUEUE_ORDERS:
            raise InvalidInputError(f"queue_order must be one of {', '.join(QUEUE_ORDERS)}")
        if self.queue_threshold is not None and not 0.0 <= self.queue_threshold <= 1.0:
            raise InvalidInputError("queue_threshold must be between 0 and 1")
        fields = ("review_required", "lease_minutes", "consensus_k", "agreement_threshold", "queue_order")
        values = {name: getattr(self, name) for name in fields if getattr(self, name) is not None}
        if self.queue_threshold is not None:
            values["queue_threshold"] = self.queue_threshold
        return values


def load_workflow(session: Session, caller: Caller, project_id: uuid.UUID) -> Workflow:
    """The settings of a project the caller may see (a hidden project is missing: NotFoundError)."""
    row = get_project(session, caller, project_id)
    return Workflow(
        project_id=project_id,
        review_required=bool(row["review_required"]),
        lease_minutes=int(row["lease_minutes"]),
        consensus_k=int(row["consensus_k"]),
        agreement_threshold=float(row["agreement_threshold"]),
        marking=marking_of(row),
        queue_order=str(row["queue_order"]),
        queue_model_id=row["queue_model_id"],
        queue_threshold=float(row["queue_threshold"]),
    )
