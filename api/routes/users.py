"""Accounts (admins), clearances and their two-person grants (security officers)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import Response

from api.deps import ContextDep, StateDep
from api.responses import JSONResponse
from api.schemas import (
    ClearanceIn,
    DeactivateIn,
    GrantDecisionIn,
    GrantOut,
    OneTimePasswordOut,
    UserIn,
    UserOut,
)
from geo_label import users as service
from geo_label.callers import roles_of
from geo_label.db.models import User
from geo_label.security.passwords import check_password_policy, hasher_for, one_time_password

router = APIRouter(prefix="/users", tags=["users"])


def user_out(user: User, pending_grant: uuid.UUID | None = None) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        clearance=service.describe(service.access_of(user)),
        citizenship=user.citizenship,
        cui_ok=user.cui_ok,
        clearance_expires=user.clearance_expires,
        roles=sorted(roles_of(user)),
        active=user.active,
        locked_until=user.locked_until,
        must_change_password=user.must_change_password,
        pending_grant=pending_grant,
    )


def change_response(change: service.ClearanceChange, applied_status: int) -> Response:
    """The account as it now is: ``applied_status`` when the change took effect, 202 while it waits for a
    second security officer."""
    body = user_out(change.user, change.pending_grant)
    code = applied_status if change.pending_grant is None else status.HTTP_202_ACCEPTED
    return JSONResponse(body.model_dump(mode="json"), status_code=code)


@router.get("", response_model=list[UserOut])
def list_users(ctx: ContextDep) -> list[UserOut]:
    return [user_out(u) for u in service.list_users(ctx.session, ctx.caller)]


@router.post(
    "",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        202: {"model": UserOut, "description": "Created; the access asked for awaits a second officer."}
    },
)
def create_user(ctx: ContextDep, state: StateDep, body: UserIn) -> Response:
    password_hash = None
    if body.password is not None:
        check_password_policy(body.password, body.username)
        password_hash = hasher_for(state.settings.password_scheme).hash(body.password)
    clearance = service.Clearance.parse(
        body.clearance,
        citizenship=body.citizenship,
        cui_ok=body.cui_ok,
        expires=body.clearance_expires,
        registry=ctx.registry,
    )
    change = service.create_user(
        ctx.session,
        ctx.caller,
        username=body.username,
        password_hash=password_hash,
        clearance=clearance,
        roles=frozenset(body.roles),
        oidc_subject=body.oidc_subject,
        certificate_subject=body.certificate_subject,
        justification=body.justification,
    )
    return change_response(change, status.HTTP_201_CREATED)


@router.put(
    "/{username}/clearance",
    response_model=UserOut,
    responses={202: {"model": UserOut, "description": "The widening awaits a second security officer."}},
)
def set_clearance(ctx: ContextDep, username: str, body: ClearanceIn) -> Response:
    """Lowering takes effect on the user's next request; widening access waits for a second officer."""
    user = service.get_user(ctx.session, username)
    expires = (
        body.clearance_expires if "clearance_expires" in body.model_fields_set else user.clearance_expires
    )
    clearance = service.Clearance.parse(
        body.clearance,
        citizenship=body.citizenship or user.citizenship,
        cui_ok=user.cui_ok if body.cui_ok is None else body.cui_ok,
        expires=expires,
        registry=ctx.registry,
    )
    change = service.set_clearance(
        ctx.session,
        ctx.caller,
        username=username,
        clearance=clearance,
        roles=None if body.roles is None else frozenset(body.roles),
        justification=body.justification,
    )
    return change_response(change, status.HTTP_200_OK)


def grant_out(row: object) -> GrantOut:
    grant = row.ClearanceGrant  # type: ignore[attr-defined]
    return GrantOut(
        id=grant.id,
        username=row.username,  # type: ignore[attr-defined]
        clearance=service.describe(service.access_of(grant)),
        citizenship=grant.citizenship,
        cui_ok=grant.cui_ok,
        clearance_expires=grant.clearance_expires,
        roles=list(grant.roles),
        justification=grant.justification,
        state=grant.state,
        proposed_by=row.proposed_by_name,  # type: ignore[attr-defined]
        proposed_at=grant.proposed_at,
    )


@router.get("/grants", response_model=list[GrantOut])
def list_grants(
    ctx: ContextDep,
    state: Annotated[str | None, Query(pattern="^(pending|approved|denied|superseded)$")] = "pending",
) -> list[GrantOut]:
    """Clearance grants waiting for (or decided by) a second security officer, newest first."""
    return [grant_out(r) for r in service.list_grants(ctx.session, ctx.caller, state=state)]


@router.post("/grants/{grant_id}/approve", response_model=UserOut)
def approve_grant(ctx: ContextDep, grant_id: uuid.UUID, body: GrantDecisionIn | None = None) -> UserOut:
    comment = body.comment if body else ""
    change = service.decide_grant(ctx.session, ctx.caller, grant_id, approve=True, comment=comment)
    return user_out(change.user)


@router.post("/grants/{grant_id}/deny", response_model=UserOut)
def deny_grant(ctx: ContextDep, grant_id: uuid.UUID, body: GrantDecisionIn | None = None) -> UserOut:
    comment = body.comment if body else ""
    change = service.decide_grant(ctx.session, ctx.caller, grant_id, approve=False, comment=comment)
    return user_out(change.user)


@router.post("/{username}/deactivate", status_code=status.HTTP_204_NO_CONTENT)
def deactivate(ctx: ContextDep, username: str, body: DeactivateIn) -> None:
    """Deactivate an account: its sessions end at once (admins); the reason is told to its holder when they
    sign in, and audited."""
    service.set_active(ctx.session, ctx.caller, username=username, active=False, reason=body.reason)


@router.post("/{username}/reactivate", status_code=status.HTTP_204_NO_CONTENT)
def reactivate(ctx: ContextDep, username: str) -> None:
    service.set_active(ctx.session, ctx.caller, username=username, active=True)


@router.post("/{username}/unlock", status_code=status.HTTP_204_NO_CONTENT)
def unlock(ctx: ContextDep, username: str) -> None:
    """Lift a sign-in lock-out (admins and security officers)."""
    service.unlock(ctx.session, ctx.caller, username=username)


@router.post("/{username}/end-sessions", status_code=status.HTTP_204_NO_CONTENT)
def end_sessions(ctx: ContextDep, username: str) -> None:
    """End every session of the account at once (security officers and admins)."""
    service.end_sessions(ctx.session, ctx.caller, username=username)


@router.post("/{username}/reset-password", response_model=OneTimePasswordOut)
def reset_password(ctx: ContextDep, state: StateDep, username: str) -> OneTimePasswordOut:
    """A one-time password, shown once: the account's sessions end, and its next sign-in must choose a new
    password (admins)."""
    one_time = one_time_password()
    password_hash = hasher_for(state.settings.password_scheme).hash(one_time)
    service.reset_password(ctx.session, ctx.caller, username=username, password_hash=password_hash)
    return OneTimePasswordOut(username=username, one_time_password=one_time)
