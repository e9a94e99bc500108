"""The signed-in user's own account and recent work."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import select

from api.deps import ContextDep, StateDep
from api.errors import NO_STORE
from api.responses import JSONResponse
from api.schemas import PasswordChangeIn
from geo_label import projects, workflow
from geo_label.db.models import User
from geo_label.errors import InvalidInputError
from geo_label.markings import banner_of
from geo_label.security.passwords import check_password_policy, hasher_for, verify_password
from geo_label.users import change_own_password, describe
from geo_label.workflow.recent import DEFAULT_RECENT, MAX_RECENT
from geo_label.workflow.record import record_csv, work_record

router = APIRouter(tags=["me"])


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(ctx: ContextDep, state: StateDep, body: PasswordChangeIn) -> None:
    """Change your own password (the current one is required; the policy applies). Every session of yours
    ends, this one too: sign in again with the new password."""
    current = ctx.session.execute(
        select(User.password_hash).where(User.id == ctx.caller.user_id)
    ).scalar_one()
    if current is None or not verify_password(current, body.current_password):
        raise InvalidInputError("the current password is not right")
    check_password_policy(body.new_password, ctx.caller.username)
    password_hash = hasher_for(state.settings.password_scheme).hash(body.new_password)
    change_own_password(ctx.session, ctx.caller, password_hash=password_hash)


@router.get("/me")
def me(ctx: ContextDep) -> dict[str, Any]:
    caller = ctx.caller
    return {
        "id": caller.user_id,
        "username": caller.username,
        "clearance": describe(caller.access),
        "citizenship": caller.access.citizenship,
        "cui_ok": caller.access.cui_ok,
        "clearance_expires": caller.access.clearance_expires,
        "roles": sorted(caller.roles),
        "projects": projects.my_projects(ctx.session, caller),
        "must_change_password": caller.must_change_password,
    }


def recent_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "project_id": row["project_id"],
        "project_name": row["project_name"],
        "chip_id": row["chip_id"],
        "replica": row["replica"],
        "state": row["state"],
        "assigned": row["assigned"],
        "marking": banner_of(row),
        "submitted_at": row["submitted_at"],
        "updated_at": row["updated_at"],
        "review_comment": row["review_comment"],
        "reviewer": row["reviewer"],
    }


@router.get("/me/record", response_model=None)
def my_record(
    ctx: ContextDep,
    since: Annotated[datetime | None, Query(description="From this time (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="Up to this time (excluded)")] = None,
    fmt: Annotated[str, Query(alias="format", pattern="^(json|csv)$")] = "json",
) -> Response:
    """Your own record over any period (issue 15): every task of yours with its state, time on task, the
    reviewer's comment and its gold score once handed in; your acceptance rate; as JSON or CSV (the banner
    as its first line)."""
    record = work_record(ctx.session, ctx.caller, since=since, until=until)
    if fmt == "csv":
        return Response(
            record_csv(record),
            media_type="text/csv",
            headers={
                **NO_STORE,
                "Content-Disposition": 'attachment; filename="my-record.csv"',
                "X-GeoLabel-Banner": record.banner.banner(),
            },
        )
    body = {
        "banner": record.banner.banner(),
        "tasks": record.tasks,
        "accepted": record.accepted,
        "rejected": record.rejected,
        "acceptance_rate": record.acceptance_rate,
        "mean_gold_f1": record.mean_gold_f1,
        "hours_on_task": record.hours_on_task,
        "items": record.rows,
    }
    return JSONResponse(body, headers=NO_STORE)


@router.get("/me/tasks")
def my_tasks(
    ctx: ContextDep, limit: Annotated[int, Query(ge=1, le=MAX_RECENT)] = DEFAULT_RECENT
) -> JSONResponse:
    """Your most recent tasks across your projects, newest first: the ones assigned to you and the ones you
    handed in, only those you may still read. A task rejected back to you carries the reviewer's comment."""
    rows = workflow.recent_tasks(ctx.session, ctx.caller, limit=limit)
    return JSONResponse({"items": [recent_json(r) for r in rows], "limit": limit}, headers=NO_STORE)
