"""A labeler's own record (issue 15, fair treatment): every task of theirs changed in a period, with its
state, time on task, the latest reviewer's comment and, once handed in, its gold score; and the acceptance
rate over them. What the person may read only (a task they may no longer read is not in it)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from access_control import Marking, roll_up
from geo_label.annotations import audit_read
from geo_label.db.access import project_visible, readable
from geo_label.db.context import Caller
from geo_label.db.models import GOLD_SCORES, PROJECTS, TASKS
from geo_label.errors import InvalidInputError
from geo_label.markings import marking_of
from geo_label.workflow.common import ACCEPTED, IN_PROGRESS, REJECTED, require_user
from geo_label.workflow.recent import latest_review, own_task_ids

COLUMNS = (
    "project",
    "task",
    "chip",
    "state",
    "submissions",
    "minutes_on_task",
    "updated_at",
    "review",
    "reviewer",
    "review_comment",
    "gold_f1",
    "marking",
)


@dataclass(frozen=True)
class WorkRecord:
    rows: list[dict[str, Any]]
    tasks: int
    accepted: int
    rejected: int
    #: Accepted over reviewed (accepted or rejected) tasks; None when none was reviewed.
    acceptance_rate: float | None
    mean_gold_f1: float | None
    hours_on_task: float
    banner: Marking


def work_record(
    session: Session, caller: Caller, *, since: datetime | None = None, until: datetime | None = None
) -> WorkRecord:
    """The caller's tasks last changed in [since, until), oldest first, and what they add up to."""
    user_id = require_user(caller)
    if since is not None and until is not None and since >= until:
        raise InvalidInputError("since must be before until")
    latest = latest_review(caller)
    query = (
        select(
            TASKS,
            PROJECTS.c.name.label("project_name"),
            latest.c.decision,
            latest.c.comment,
            latest.c.reviewer,
            GOLD_SCORES.c.f1,
        )
        .join(PROJECTS, PROJECTS.c.id == TASKS.c.project_id)
        .outerjoin(latest, true())
        .outerjoin(GOLD_SCORES, (GOLD_SCORES.c.task_id == TASKS.c.id) & readable(GOLD_SCORES, caller))
        .where(
            TASKS.c.id.in_(own_task_ids(caller, user_id)),
            readable(TASKS, caller),
            project_visible(PROJECTS, caller),
        )
        .order_by(TASKS.c.updated_at, TASKS.c.id)
    )
    if since is not None:
        query = query.where(TASKS.c.updated_at >= since)
    if until is not None:
        query = query.where(TASKS.c.updated_at < until)
    rows = []
    for row in session.execute(query).mappings():
        handed_in = row["state"] != IN_PROGRESS
        rows.append(
            {
                "project": row["project_name"],
                "task": str(row["id"]),
                "chip": str(row["chip_id"]),
                "state": row["state"],
                "submissions": row["submissions"],
                "minutes_on_task": round(float(row["work_seconds"] or 0.0) / 60, 1),
                "updated_at": row["updated_at"],
                "review": row["decision"],
                "reviewer": row["reviewer"],
                "review_comment": row["comment"],
                # Labelers are not told which tasks are gold while they work on them.
                "gold_f1": round(float(row["f1"]), 3) if handed_in and row["f1"] is not None else None,
                "marking": marking_of(row).banner(),
                "_marking": marking_of(row),
                "_row": row,
            }
        )
    audit_read(session, caller, "task", [r.pop("_row") for r in rows])
    markings = [r.pop("_marking") for r in rows]
    accepted = sum(r["state"] == ACCEPTED for r in rows)
    rejected = sum(r["state"] == REJECTED for r in rows)
    golds = [r["gold_f1"] for r in rows if r["gold_f1"] is not None]
    return WorkRecord(
        rows=rows,
        tasks=len(rows),
        accepted=accepted,
        rejected=rejected,
        acceptance_rate=accepted / (accepted + rejected) if accepted + rejected else None,
        mean_gold_f1=sum(golds) / len(golds) if golds else None,
        hours_on_task=round(sum(r["minutes_on_task"] for r in rows) / 60, 2),
        banner=roll_up(markings),
    )


def record_csv(record: WorkRecord) -> str:
    """The record as CSV: the banner as its first line, then a header row and a row per task."""
    out = io.StringIO()
    out.write(record.banner.banner() + "\n")
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in record.rows:
        writer.writerow({**row, "updated_at": row["updated_at"].isoformat()})
    return out.getvalue()
