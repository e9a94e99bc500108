"""Changing a project's workflow settings, and what follows from a change: the queue reordered, the
replicas a higher consensus needs created. Here, not in :mod:`geo_label.workflow.config`, so that the
settings' module, which the queue and the ordering build on, imports neither."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.orm import Session

from geo_label import audit
from geo_label.db.context import Caller
from geo_label.db.models import PROJECTS
from geo_label.errors import InvalidInputError
from geo_label.predictions.registry import find_model
from geo_label.projects import require_project_role
from geo_label.workflow.config import QUEUE_FIELDS, Workflow, WorkflowChanges, load_workflow
from geo_label.workflow.ordering import order_queue
from geo_label.workflow.queue import ensure_tasks


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
    if changes.queue_model is not None:
        values["queue_model_id"] = find_model(session, caller, project_id, changes.queue_model)["id"]
    order = values.get("queue_order", before.queue_order)
    if order != "default" and values.get("queue_model_id", before.queue_model_id) is None:
        raise InvalidInputError(f"the {order} queue order needs a model: give its NAME@VERSION")
    if values:
        session.execute(update(PROJECTS).where(PROJECTS.c.id == project_id).values(**values))
        audit.record(
            session,
            caller,
            "project.workflow",
            item_type="project",
            item_id=project_id,
            project_id=project_id,
            marking=before.marking,
            details={
                "before": before.as_dict(),
                "changes": {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in values.items()},
            },
        )
    after = load_workflow(session, caller, project_id)
    if any(name in values for name in QUEUE_FIELDS):
        order_queue(session, after)
    if after.consensus_k > before.consensus_k:
        ensure_tasks(session, caller, project_id, workflow=after)
    return after
