"""The queue in the order of a model's predictions (issue 13, part 3): open tasks get a priority from the
predictions on their chip, and ``next_task`` takes the highest priority first, as it always does (so every
queue guarantee holds as before: a task is handed out once, none is lost; ties keep the default order).

* ``default``: priority 0 for every task (the order of creation).
* ``uncertain``: what the model is least sure about first. Each proposed prediction of the chosen model
  version adds its uncertainty, ``1 - |score - threshold| / max(threshold, 1 - threshold)`` (1 at the
  threshold, 0 at a score of 0 or 1); the chip's priority is a thousand times the sum.
* ``most_objects``: chips with the most predictions scored at or above the threshold first.

Only predictions marked exactly as their chip count: a labeler who may read a chip must not learn from its
place in the queue that predictions they may not read lie on it. Priorities are worked out again when the
setting changes and after each import of the model's predictions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, and_, cast, func, select, update
from sqlalchemy.orm import Session

from geo_label.db.models import CHIPS, PREDICTIONS, TASKS
from geo_label.workflow.config import Workflow


def _scores(workflow: Workflow) -> Any:
    p, c = PREDICTIONS, CHIPS
    threshold = workflow.queue_threshold
    value: Any
    if workflow.queue_order == "uncertain":
        spread = max(threshold, 1.0 - threshold)
        uncertainty = func.greatest(0.0, 1.0 - func.abs(p.c.score - threshold) / spread)
        value = func.round(1000 * func.sum(uncertainty))
    else:
        value = func.count().filter(p.c.score >= threshold)
    return (
        select(p.c.chip_id, cast(value, Integer).label("priority"))
        .join(c, c.c.id == p.c.chip_id)
        .where(
            p.c.project_id == workflow.project_id,
            p.c.model_id == workflow.queue_model_id,
            p.c.state == "proposed",
            p.c.classification == c.c.classification,
            p.c.sci_controls == c.c.sci_controls,
            p.c.dissemination == c.c.dissemination,
            p.c.rel_to == c.c.rel_to,
        )
        .group_by(p.c.chip_id)
        .subquery("scores")
    )


def order_queue(session: Session, workflow: Workflow) -> None:
    """Set the priorities of the project's open tasks for its queue order (in the caller's transaction, under
    its row-level security: the tasks and predictions it may read)."""
    open_tasks = and_(TASKS.c.project_id == workflow.project_id, TASKS.c.state == "open")
    session.execute(update(TASKS).where(open_tasks, TASKS.c.priority != 0).values(priority=0))
    if workflow.queue_order == "default" or workflow.queue_model_id is None:
        return
    scores = _scores(workflow)
    session.execute(
        update(TASKS)
        .where(open_tasks, TASKS.c.chip_id == scores.c.chip_id)
        .values(priority=scores.c.priority)
    )
