"""Load the caller's attributes from the database, on every request: a revoked clearance or membership takes
effect on the next request, whatever a token says."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from access_control import Classification, UserAccess
from geo_label.db.context import Caller
from geo_label.db.models import MEMBERSHIPS, USERS, User
from geo_label.errors import AuthenticationError


class UserRecord(Protocol):
    """What a Caller is made of: a ``User`` or a row with its columns."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def username(self) -> str: ...
    @property
    def is_admin(self) -> bool: ...
    @property
    def is_security_officer(self) -> bool: ...
    @property
    def is_foreign_disclosure_officer(self) -> bool: ...
    @property
    def clearance(self) -> int: ...
    @property
    def sci_accesses(self) -> Sequence[str] | None: ...
    @property
    def citizenship(self) -> str: ...
    @property
    def cui_ok(self) -> bool: ...
    @property
    def clearance_expires(self) -> datetime | None: ...


#: The system roles and the ``users`` columns that grant them.
ROLE_COLUMNS = {
    "admin": "is_admin",
    "security_officer": "is_security_officer",
    "foreign_disclosure_officer": "is_foreign_disclosure_officer",
}


def roles_of(user: UserRecord) -> frozenset[str]:
    """The system roles ``user`` holds."""
    return frozenset(role for role, column in ROLE_COLUMNS.items() if getattr(user, column))


def caller_from_user(user: UserRecord, memberships: dict[str, str]) -> Caller:
    roles = roles_of(user)
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
        must_change_password=bool(getattr(user, "must_change_password", False)),
    )


def caller_query(user_id: uuid.UUID) -> Select[Any]:
    """The user's row and their memberships as a JSON object (``memberships``): what :func:`caller_of_row`
    makes a Caller of."""
    u, m = USERS.c, MEMBERSHIPS.c
    memberships = func.json_object_agg(m.project_id, m.role).filter(m.project_id.is_not(None))
    return (
        select(*u, memberships.label("memberships"))
        .outerjoin(MEMBERSHIPS, m.user_id == u.id)
        .where(u.id == user_id)
        .group_by(u.id)
    )


def caller_of_row(row: Any) -> Caller:
    """The Caller of a :func:`caller_query` row; AuthenticationError when the user is gone or deactivated."""
    if row is None or not row.active:
        raise AuthenticationError("invalid or expired token")
    return caller_from_user(row, dict(row.memberships or {}))


def load_caller(session: Session, user_id: uuid.UUID) -> Caller:
    """The active user ``user_id`` as a Caller (one statement); AuthenticationError when gone or inactive."""
    return caller_of_row(session.execute(caller_query(user_id)).one_or_none())


def load_caller_by_name(session: Session, username: str) -> Caller:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        raise AuthenticationError(f"no active user {username!r}")
    return load_caller(session, user.id)
