"""Projects and their members."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from access_control import parse_marking
from api import serialize
from api.deps import ContextDep
from api.schemas import MemberIn, Page, ProjectIn, ProjectOut
from geo_label import projects as service
from geo_label.annotations import audit_read

router = APIRouter(prefix="/projects", tags=["projects"])

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


@router.get("", response_model=Page[ProjectOut])
def list_projects(ctx: ContextDep, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    rows, total = service.list_projects(ctx.session, ctx.caller, limit=limit, offset=offset)
    audit_read(ctx.session, ctx.caller, "project", rows)
    return {"items": [serialize.project(r) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.post("", response_model=ProjectOut, status_code=status.HTTP_201_CREATED)
def create_project(ctx: ContextDep, body: ProjectIn) -> dict[str, Any]:
    classes = [
        service.LabelClass(
            c.name, tuple(c.geometry_types), tuple(a.model_dump(exclude_none=True) for a in c.attributes)
        )
        for c in body.classes
    ]
    project_id = service.create_project(
        ctx.session,
        ctx.caller,
        name=body.name,
        marking=parse_marking(body.marking, ctx.registry),
        classes=classes,
        description=body.description,
        review_required=body.review_required,
    )
    return serialize.project(service.get_project(ctx.session, ctx.caller, project_id))


@router.get("/{project_id}", response_model=ProjectOut)
def get_project(ctx: ContextDep, project_id: uuid.UUID) -> dict[str, Any]:
    row = service.get_project(ctx.session, ctx.caller, project_id)
    audit_read(ctx.session, ctx.caller, "project", [row])
    return serialize.project(row)


@router.get("/{project_id}/members")
def list_members(ctx: ContextDep, project_id: uuid.UUID) -> list[dict[str, str]]:
    return [{"username": u, "role": r} for u, r in service.list_members(ctx.session, ctx.caller, project_id)]


@router.put("/{project_id}/members", status_code=status.HTTP_204_NO_CONTENT)
def add_member(ctx: ContextDep, project_id: uuid.UUID, body: MemberIn) -> Response:
    service.add_member(ctx.session, ctx.caller, project_id=project_id, username=body.username, role=body.role)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{project_id}/members/{username}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(ctx: ContextDep, project_id: uuid.UUID, username: str) -> Response:
    service.remove_member(ctx.session, ctx.caller, project_id=project_id, username=username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
