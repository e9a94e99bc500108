"""Accounts (admins) and clearances (security officers)."""

from __future__ import annotations

from fastapi import APIRouter, status

from access_control import Classification, UserAccess
from api.deps import ContextDep, StateDep
from api.schemas import ClearanceIn, UserIn, UserOut
from geo_label import users as service
from geo_label.db.models import User
from geo_label.security.passwords import check_password_policy, hasher_for

router = APIRouter(prefix="/users", tags=["users"])


def user_out(user: User) -> UserOut:
    access = UserAccess(
        clearance=Classification(user.clearance),
        sci_accesses=frozenset(user.sci_accesses),
        citizenship=user.citizenship,
        cui_ok=user.cui_ok,
        clearance_expires=user.clearance_expires,
    )
    roles = [
        name
        for name, flag in (("admin", user.is_admin), ("security_officer", user.is_security_officer))
        if flag
    ]
    return UserOut(
        id=user.id,
        username=user.username,
        clearance=service.describe(access),
        citizenship=user.citizenship,
        cui_ok=user.cui_ok,
        clearance_expires=user.clearance_expires,
        roles=roles,
        active=user.active,
    )


@router.get("", response_model=list[UserOut])
def list_users(ctx: ContextDep) -> list[UserOut]:
    return [user_out(u) for u in service.list_users(ctx.session, ctx.caller)]


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(ctx: ContextDep, state: StateDep, body: UserIn) -> UserOut:
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
    user = service.create_user(
        ctx.session,
        ctx.caller,
        username=body.username,
        password_hash=password_hash,
        clearance=clearance,
        roles=frozenset(body.roles),
        oidc_subject=body.oidc_subject,
    )
    return user_out(user)


@router.put("/{username}/clearance", response_model=UserOut)
def set_clearance(ctx: ContextDep, username: str, body: ClearanceIn) -> UserOut:
    clearance = service.Clearance.parse(
        body.clearance,
        citizenship=body.citizenship,
        cui_ok=body.cui_ok,
        expires=body.clearance_expires,
        registry=ctx.registry,
    )
    return user_out(service.set_clearance(ctx.session, ctx.caller, username=username, clearance=clearance))


@router.post("/{username}/deactivate", status_code=status.HTTP_204_NO_CONTENT)
def deactivate(ctx: ContextDep, username: str) -> None:
    service.set_active(ctx.session, ctx.caller, username=username, active=False)
