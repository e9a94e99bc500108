"""Accounts and clearances. Admins manage accounts; security officers grant clearances."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from access_control import Classification, MarkingRegistry, UserAccess
from geo_label import audit
from geo_label.db.context import Caller
from geo_label.db.models import User
from geo_label.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError

ROLES = ("admin", "security_officer")


@dataclass(frozen=True)
class Clearance:
    """A clearance as granted: level and SCI accesses (parsed from e.g. "TS//SI/TK"), plus the rest."""

    access: UserAccess

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        citizenship: str,
        cui_ok: bool = False,
        expires: datetime | None = None,
        registry: MarkingRegistry | None = None,
    ) -> Clearance:
        country = citizenship.strip().upper()
        if registry is not None and country not in registry.countries:
            raise InvalidInputError(
                f"unknown citizenship {citizenship!r}: give a registered country trigraph"
            )
        access = UserAccess.from_clearance(
            text, citizenship=country, cui_ok=cui_ok, clearance_expires=expires, registry=registry
        )
        return cls(access)


def require(caller: Caller, role: str) -> None:
    if role not in caller.roles:
        raise PermissionDeniedError(f"this needs the {role.replace('_', ' ')} role")


def create_user(
    session: Session,
    caller: Caller,
    *,
    username: str,
    password_hash: str | None,
    clearance: Clearance,
    roles: frozenset[str] = frozenset(),
    oidc_subject: str | None = None,
) -> User:
    """Create an account. Admins create accounts; giving it a clearance above UNCLASSIFIED or a system role
    is also a security officer's act."""
    require(caller, "admin")
    if int(clearance.access.clearance) > 0 or clearance.access.sci_accesses or roles:
        require(caller, "security_officer")
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise InvalidInputError(f"unknown role {sorted(unknown)[0]!r}: use admin or security_officer")
    access = clearance.access
    user = User(
        id=uuid.uuid4(),
        username=username,
        password_hash=password_hash,
        oidc_subject=oidc_subject,
        clearance=int(access.clearance),
        sci_accesses=sorted(access.sci_accesses),
        citizenship=access.citizenship,
        cui_ok=access.cui_ok,
        clearance_expires=access.clearance_expires,
        is_admin="admin" in roles,
        is_security_officer="security_officer" in roles,
        active=True,
        failed_logins=0,
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ConflictError(f"a user named {username!r} already exists") from None
    audit.record(
        session,
        caller,
        "user.create",
        item_type="user",
        item_id=user.id,
        details={"username": username, "clearance": describe(access), "roles": sorted(roles)},
    )
    return user


def describe(access: UserAccess) -> str:
    from access_control import Marking

    level = Marking(classification=access.clearance).banner()
    sci = "/".join(sorted(access.sci_accesses))
    return f"{level}//{sci}" if sci else level


def get_user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFoundError("user")
    return user


def set_clearance(session: Session, caller: Caller, *, username: str, clearance: Clearance) -> User:
    """A security officer's act; takes effect on the user's next request."""
    require(caller, "security_officer")
    user = get_user(session, username)
    before = describe(
        UserAccess(
            clearance=Classification(user.clearance),
            sci_accesses=frozenset(user.sci_accesses),
            citizenship=user.citizenship,
            cui_ok=user.cui_ok,
            clearance_expires=user.clearance_expires,
        )
    )
    access = clearance.access
    session.execute(
        update(User)
        .where(User.id == user.id)
        .values(
            clearance=int(access.clearance),
            sci_accesses=sorted(access.sci_accesses),
            citizenship=access.citizenship,
            cui_ok=access.cui_ok,
            clearance_expires=access.clearance_expires,
        )
    )
    session.refresh(user)
    audit.record(
        session,
        caller,
        "user.clearance",
        item_type="user",
        item_id=user.id,
        details={
            "username": username,
            "before": before,
            "after": describe(access),
            "citizenship": access.citizenship,
        },
    )
    return user


def set_active(session: Session, caller: Caller, *, username: str, active: bool) -> None:
    require(caller, "admin")
    user = get_user(session, username)
    session.execute(update(User).where(User.id == user.id).values(active=active))
    audit.record(
        session,
        caller,
        "user.activate" if active else "user.deactivate",
        item_type="user",
        item_id=user.id,
        details={"username": username},
    )


def list_users(session: Session, caller: Caller) -> list[User]:
    if not (caller.is_admin or caller.is_security_officer):
        raise PermissionDeniedError("listing accounts needs the admin or security officer role")
    return list(session.execute(select(User).order_by(User.username)).scalars())
