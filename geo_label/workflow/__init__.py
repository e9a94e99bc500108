"""The labeling workflow: every chip of a project is a task (one per consensus replica), leased to one
labeler at a time, submitted, reviewed (accepted, or rejected back to its labeler), compared across
replicas (agreement) and, on gold chips, scored against reference features.

States: open -> in_progress (leased) -> submitted -> accepted | rejected; rejected -> in_progress (the
same labeler reworks it); in_progress and rejected -> open (skip; a lapsed lease by `geo-label tasks
release-expired`, unless the next labeler who asks takes it first). Without review, submit goes straight to
accepted. Tasks carry their chip's marking and are read through the same access filter (and row-level
security) as every other marked table: a task one may not read does not exist.
"""

from geo_label.workflow.appeals import appeal_task
from geo_label.workflow.changes import update_workflow
from geo_label.workflow.common import STATES
from geo_label.workflow.config import Workflow, WorkflowChanges, load_workflow
from geo_label.workflow.consensus import ChipAgreement, agreement_summary, project_agreement, task_agreement
from geo_label.workflow.gold import GoldResult, ReferenceInput, Score, mark_gold, score
from geo_label.workflow.queue import (
    TaskDetail,
    describe,
    ensure_tasks,
    get_task,
    heartbeat,
    list_tasks,
    next_task,
    release_expired,
    skip,
    submit,
)
from geo_label.workflow.recent import recent_tasks
from geo_label.workflow.review import review_task, task_reviews
from geo_label.workflow.stats import labeler_stats, project_progress

__all__ = [
    "STATES",
    "ChipAgreement",
    "GoldResult",
    "ReferenceInput",
    "Score",
    "TaskDetail",
    "Workflow",
    "WorkflowChanges",
    "agreement_summary",
    "appeal_task",
    "describe",
    "ensure_tasks",
    "get_task",
    "heartbeat",
    "labeler_stats",
    "list_tasks",
    "load_workflow",
    "mark_gold",
    "next_task",
    "project_agreement",
    "project_progress",
    "recent_tasks",
    "release_expired",
    "review_task",
    "score",
    "skip",
    "submit",
    "task_agreement",
    "task_reviews",
    "update_workflow",
]
