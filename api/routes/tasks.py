"""The labeling workflow: next task, heartbeat, submit, skip, review, agreement, gold, progress, statistics.

Markings travel in banner form. A task the caller may not read answers 404, exactly as a missing one.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from access_control import parse_marking
from api import serialize
from api.deps import ContextDep
from api.errors import NO_STORE
from api.responses import JSONResponse
from geo_label import workflow as service
from geo_label.markings import banner_of

router = APIRouter(tags=["tasks"])

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: str = Field(description="accept or reject")
    comment: str = Field(default="", description="Required when rejecting: what the labeler should fix.")


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field(description="Why the rejection is wrong (the reviewer who decides reads it).")


class ReferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    label_class: str = Field(alias="class")
    geometry: dict[str, Any] = Field(description="GeoJSON geometry in EPSG:4326 (lon, lat)")
    marking: str | None = Field(default=None, description="Banner form; default: the chip's marking.")


class GoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chip_id: uuid.UUID
    features: list[ReferenceIn] | None = Field(
        default=None,
        description="The reference features; when omitted, your own annotations on the chip become them "
        "(and leave the annotations, so that labelers do not see the answers).",
    )


class WorkflowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    review_required: bool | None = None
    lease_minutes: int | None = None
    consensus_k: int | None = None
    agreement_threshold: float | None = None
    queue_order: str | None = Field(default=None, description="default, uncertain or most_objects")
    queue_model: str | None = Field(default=None, description="NAME@VERSION (or id) of the ordering model")
    queue_threshold: float | None = None


def task_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "project_id": row["project_id"],
        "chip_id": row["chip_id"],
        "replica": row["replica"],
        "state": row["state"],
        "assignee": row["assignee"],
        "priority": row["priority"],
        "marking": banner_of(row),
        "lease_expires_at": row["lease_expires_at"],
        "submitted_at": row["submitted_at"],
        "submissions": row["submissions"],
        "work_seconds": row["work_seconds"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def review_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "reviewer": row["reviewer_name"],
        "decision": row["decision"],
        "comment": row["comment"],
        "marking": banner_of(row),
        "at": row["at"],
    }


def detail_json(detail: service.TaskDetail) -> dict[str, Any]:
    body = task_json(detail.task)
    body["chip"] = serialize.chip(detail.chip)
    body["reviews"] = [review_json(r) for r in detail.reviews]
    if detail.gold is not None:
        body["gold"] = detail.gold
    if detail.appeal is not None:
        body["appeal"] = {
            "comment": detail.appeal["comment"],
            "at": detail.appeal["at"],
            "rejected_by": detail.appeal["rejected_by_name"],
            "decided": detail.appeal["decided_review"] is not None,
        }
    return body


def ok(body: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers=NO_STORE)


@router.post("/projects/{project_id}/tasks/next", responses={204: {"description": "No task for you now."}})
def next_task(ctx: ContextDep, project_id: uuid.UUID) -> Response:
    """Lease your next task: the one you hold, else one a reviewer sent back to you, else the
    highest-priority open task you may read. 204 when there is none."""
    row = service.next_task(ctx.session, ctx.caller, project_id)
    if row is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers=NO_STORE)
    return ok(detail_json(service.describe(ctx.session, ctx.caller, row)))


@router.get("/projects/{project_id}/tasks")
def list_tasks(
    ctx: ContextDep,
    project_id: uuid.UUID,
    state: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> JSONResponse:
    rows, total = service.list_tasks(
        ctx.session, ctx.caller, project_id, state=state, limit=limit, offset=offset
    )
    return ok({"items": [task_json(r) for r in rows], "total": total, "limit": limit, "offset": offset})


@router.get("/projects/{project_id}/progress")
def progress(ctx: ContextDep, project_id: uuid.UUID) -> JSONResponse:
    return ok(service.project_progress(ctx.session, ctx.caller, project_id))


@router.get("/projects/{project_id}/stats/{username}")
def labeler_stats(ctx: ContextDep, project_id: uuid.UUID, username: str) -> JSONResponse:
    return ok(service.labeler_stats(ctx.session, ctx.caller, project_id, username))


@router.post("/projects/{project_id}/gold", status_code=status.HTTP_201_CREATED)
def mark_gold(ctx: ContextDep, project_id: uuid.UUID, body: GoldIn) -> JSONResponse:
    references = (
        None
        if body.features is None
        else [
            service.ReferenceInput(
                label_class=f.label_class,
                geometry=f.geometry,
                marking=parse_marking(f.marking, ctx.registry) if f.marking else None,
            )
            for f in body.features
        ]
    )
    result = service.mark_gold(ctx.session, ctx.caller, project_id, body.chip_id, references)
    payload = {
        "chip_id": result.chip_id,
        "references": result.references,
        "moved_annotations": result.moved_annotations,
        "rescored": result.rescored,
    }
    return ok(payload, status.HTTP_201_CREATED)


@router.get("/projects/{project_id}/workflow")
def get_workflow(ctx: ContextDep, project_id: uuid.UUID) -> JSONResponse:
    return ok(service.load_workflow(ctx.session, ctx.caller, project_id).as_dict())


@router.patch("/projects/{project_id}/workflow")
def update_workflow(ctx: ContextDep, project_id: uuid.UUID, body: WorkflowIn) -> JSONResponse:
    changes = service.WorkflowChanges(**body.model_dump())
    return ok(service.update_workflow(ctx.session, ctx.caller, project_id, changes).as_dict())


@router.get("/tasks/{task_id}")
def get_task(ctx: ContextDep, task_id: uuid.UUID) -> JSONResponse:
    return ok(detail_json(service.get_task(ctx.session, ctx.caller, task_id)))


@router.post("/tasks/{task_id}/heartbeat")
def heartbeat(ctx: ContextDep, task_id: uuid.UUID) -> JSONResponse:
    return ok(task_json(service.heartbeat(ctx.session, ctx.caller, task_id)))


@router.post("/tasks/{task_id}/submit")
def submit(ctx: ContextDep, task_id: uuid.UUID) -> JSONResponse:
    return ok(task_json(service.submit(ctx.session, ctx.caller, task_id)))


@router.post("/tasks/{task_id}/skip")
def skip(ctx: ContextDep, task_id: uuid.UUID) -> JSONResponse:
    return ok(task_json(service.skip(ctx.session, ctx.caller, task_id)))


@router.post("/tasks/{task_id}/review")
def review(ctx: ContextDep, task_id: uuid.UUID, body: ReviewIn) -> JSONResponse:
    row = service.review_task(ctx.session, ctx.caller, task_id, decision=body.decision, comment=body.comment)
    return ok(task_json(row))


@router.post("/tasks/{task_id}/appeal")
def appeal(ctx: ContextDep, task_id: uuid.UUID, body: AppealIn) -> JSONResponse:
    """Appeal a rejection of your task, once, with a comment: a reviewer other than the one who rejected it
    decides, and that decision stands."""
    row = service.appeal_task(ctx.session, ctx.caller, task_id, comment=body.comment)
    return ok(task_json(row))


@router.get("/tasks/{task_id}/agreement")
def agreement(ctx: ContextDep, task_id: uuid.UUID) -> JSONResponse:
    result = service.task_agreement(ctx.session, ctx.caller, task_id)
    return ok(
        {
            "chip_id": result.chip_id,
            "labelers": result.labelers,
            "pairs": result.pairs,
            "agreement": result.agreement,
            "threshold": result.threshold,
            "flagged": result.flagged,
        }
    )
