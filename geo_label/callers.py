"""Load the caller's attributes from the database, on every request: a revoked clearance or membership takes
effect on the next request, whatever a token says."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from access_control import Classification, UserAccess
from geo_label.db.context import Caller
from geo_label.db.models import Membership, User
from geo_label.errors import AuthenticationError


def caller_from_user(user: User, memberships: dict[str, str]) -> Caller:
    roles = {
        name
        for name, flag in (("admin", user.is_admin), ("security_officer", user.is_security_officer))
        if flag
    }
    access = UserAccess(
        clearance=Classification(user.clearance),
        sci_accesses=frozenset(user.sci_accesses or ()),
        citizenship=user.citizenship,
        cui_ok=user.cui_ok,
        clearance_expires=user.clearance_expires,
        projects=frozenset(memberships),
    )
    return Caller(
        user_id=user.id,
        username=user.username,
        access=access,
        roles=frozenset(roles),
        project_roles=memberships,
    )


def load_caller(session: Session, user_id: uuid.UUID) -> Caller:
    """The active user ``user_id`` as a Caller; AuthenticationError when gone or deactivated."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise AuthenticationError("invalid or expired token")
    rows = session.execute(
        select(Membership.project_id, Membership.role).where(Membership.user_id == user_id)
    )
    return caller_from_user(user, {str(project): role for project, role in rows})


def load_caller_by_name(session: Session, username: str) -> Caller:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        raise AuthenticationError(f"no active user {username!r}")
    return load_caller(session, user.id)
