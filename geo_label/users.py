"""Accounts and clearances. Admins manage accounts; security officers grant clearances."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from access_control import Classification, MarkingRegistry, UserAccess
from geo_label import audit, sessions
from geo_label.callers import ROLE_COLUMNS, roles_of
from geo_label.certificates import canonical_subject
from geo_label.db.context import Caller
from geo_label.db.models import ClearanceGrant, User
from geo_label.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError, brief

ROLES = tuple(ROLE_COLUMNS)
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


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
                f"unknown citizenship {brief(citizenship)}: give a registered country trigraph"
            )
        access = UserAccess.from_clearance(
            text, citizenship=country, cui_ok=cui_ok, clearance_expires=expires, registry=registry
        )
        return cls(access)


def require(caller: Caller, role: str) -> None:
    if role not in caller.roles:
        raise PermissionDeniedError(f"this needs the {role.replace('_', ' ')} role")


def baseline(citizenship: str) -> UserAccess:
    """What an account holds before any grant: UNCLASSIFIED, no SCI, no CUI (and no system role)."""
    return UserAccess(
        clearance=Classification.UNCLASSIFIED,
        sci_accesses=frozenset(),
        citizenship=citizenship,
        cui_ok=False,
        clearance_expires=None,
    )


def covers(holder: UserAccess, granted: UserAccess) -> bool:
    """Whether ``holder`` reaches at least as far as ``granted`` in level, SCI and CUI: no officer grants
    access beyond their own."""
    return (
        int(holder.clearance) >= int(granted.clearance)
        and granted.sci_accesses <= holder.sci_accesses
        and (holder.cui_ok or not granted.cui_ok)
    )


def narrows(new: UserAccess, new_roles: frozenset[str], old: UserAccess, old_roles: frozenset[str]) -> bool:
    """Whether ``new`` gives no access that ``old`` did not: a lowering (or no change), which one officer
    makes at once. Anything else widens access and waits for a second officer.

    A USA citizen reads everything a foreign national may (MARKINGS.md section 3, rule 4), so USA -> GBR
    narrows; GBR -> FRA and GBR -> USA do not. No expiry is later than any date."""
    old_end, new_end = old.clearance_expires, new.clearance_expires
    later = old_end is not None and (new_end is None or new_end > old_end)
    citizenship_ok = new.citizenship == old.citizenship or old.citizenship == "USA"
    return covers(old, new) and citizenship_ok and not later and new_roles <= old_roles


def access_of(record: User | ClearanceGrant) -> UserAccess:
    """The access an account holds, or a grant would give: both store it in the same columns."""
    return UserAccess(
        clearance=Classification(record.clearance),
        sci_accesses=frozenset(record.sci_accesses or ()),
        citizenship=record.citizenship,
        cui_ok=record.cui_ok,
        clearance_expires=record.clearance_expires,
    )


def access_columns(access: UserAccess) -> dict[str, Any]:
    """``access`` as the columns ``users`` and ``clearance_grants`` store it in."""
    return {
        "clearance": int(access.clearance),
        "sci_accesses": sorted(access.sci_accesses),
        "citizenship": access.citizenship,
        "cui_ok": access.cui_ok,
        "clearance_expires": access.clearance_expires,
    }


def role_columns(roles: frozenset[str]) -> dict[str, bool]:
    return {column: role in roles for role, column in ROLE_COLUMNS.items()}


def _is_operator(caller: Caller) -> bool:
    """The operator at the host's command line: the system's own authority, the root of every grant."""
    return "system" in caller.roles


def _check_grantor(caller: Caller, access: UserAccess, subject_id: uuid.UUID | None) -> None:
    require(caller, "security_officer")
    if subject_id is not None and caller.user_id == subject_id:
        raise PermissionDeniedError(
            "no one changes their own clearance, roles or CUI approval: ask another security officer"
        )
    if not covers(caller.access, access):
        raise PermissionDeniedError(
            f"you cannot grant {describe(access)}{' with CUI' if access.cui_ok else ''}: "
            "it is beyond your own access"
        )


def _check_roles(roles: frozenset[str]) -> None:
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise InvalidInputError(f"unknown role {brief(sorted(unknown)[0])}: use {', '.join(ROLES)}")


@dataclass(frozen=True)
class ClearanceChange:
    """What became of a requested clearance: applied now, or pending a second officer's approval."""

    user: User
    pending_grant: uuid.UUID | None = None


def create_user(
    session: Session,
    caller: Caller,
    *,
    username: str,
    password_hash: str | None,
    clearance: Clearance,
    roles: frozenset[str] = frozenset(),
    oidc_subject: str | None = None,
    certificate_subject: str | None = None,
    justification: str = "",
) -> ClearanceChange:
    """Create an account. Admins create accounts; access beyond the baseline (a level above UNCLASSIFIED,
    SCI, CUI approval) and system roles are a security officer's grant, within the officer's own access, and
    wait for a second officer (the account starts at the baseline meanwhile). The host's operator grants at
    once."""
    require(caller, "admin")
    check_username(username)
    _check_roles(roles)
    access = clearance.access
    start = baseline(access.citizenship)
    elevated = not narrows(access, roles, start, frozenset())
    if elevated:
        _check_grantor(caller, access, None)
    immediate = _is_operator(caller) or not elevated
    applied, applied_roles = (access, roles) if immediate else (start, frozenset[str]())
    user = User(
        id=uuid.uuid4(),
        username=username,
        password_hash=password_hash,
        oidc_subject=oidc_subject,
        certificate_subject=canonical_subject(certificate_subject) if certificate_subject else None,
        active=True,
        failed_logins=0,
        **access_columns(applied),
        **role_columns(applied_roles),
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ConflictError(
            f"a user named {brief(username)}, or with that certificate subject, already exists"
        ) from None
    audit.record(
        session,
        caller,
        "user.create",
        item_type="user",
        item_id=user.id,
        details={"username": username, "clearance": describe(applied), "roles": sorted(applied_roles)},
    )
    pending = None if immediate else _propose(session, caller, user, access, roles, justification)
    return ClearanceChange(user=user, pending_grant=pending)


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


def _grant_details(access: UserAccess, roles: frozenset[str]) -> dict[str, Any]:
    expires = access.clearance_expires
    return {
        "clearance": describe(access),
        "citizenship": access.citizenship,
        "cui_ok": access.cui_ok,
        "expires": expires.isoformat() if expires else None,
        "roles": sorted(roles),
    }


def _apply(session: Session, user: User, access: UserAccess, roles: frozenset[str]) -> None:
    session.execute(
        update(User).where(User.id == user.id).values(**access_columns(access), **role_columns(roles))
    )
    session.refresh(user)


def _propose(
    session: Session,
    caller: Caller,
    user: User,
    access: UserAccess,
    roles: frozenset[str],
    justification: str,
) -> uuid.UUID:
    """Record a widening for a second officer; an earlier pending proposal for the account is superseded."""
    session.execute(
        update(ClearanceGrant)
        .where(ClearanceGrant.user_id == user.id, ClearanceGrant.state == "pending")
        .values(state="superseded", decided_at=func.now())
    )
    grant_id = uuid.uuid4()
    session.execute(
        insert(ClearanceGrant).values(
            id=grant_id,
            user_id=user.id,
            **access_columns(access),
            roles=sorted(roles),
            justification=justification.strip(),
            proposed_by=caller.user_id,
        )
    )
    audit.record(
        session,
        caller,
        "user.grant.propose",
        item_type="user",
        item_id=user.id,
        details={"username": user.username, "grant": str(grant_id), **_grant_details(access, roles)},
    )
    return grant_id


def set_clearance(
    session: Session,
    caller: Caller,
    *,
    username: str,
    clearance: Clearance,
    roles: frozenset[str] | None = None,
    justification: str = "",
) -> ClearanceChange:
    """A security officer's act, never on their own account and never beyond their own access. A lowering
    takes effect on the user's next request; a widening waits for a second officer (the host's operator
    grants at once). ``roles=None`` keeps the account's system roles."""
    user = get_user(session, username)
    access = clearance.access
    new_roles = roles_of(user) if roles is None else roles
    _check_roles(new_roles)
    _check_grantor(caller, access, user.id)
    before = access_of(user)
    if not _is_operator(caller) and not narrows(access, new_roles, before, roles_of(user)):
        return ClearanceChange(user, _propose(session, caller, user, access, new_roles, justification))
    old_roles = roles_of(user)
    _apply(session, user, access, new_roles)
    audit.record(
        session,
        caller,
        "user.clearance",
        item_type="user",
        item_id=user.id,
        details={
            "username": username,
            "before": _grant_details(before, old_roles),
            "after": _grant_details(access, new_roles),
        },
    )
    return ClearanceChange(user)


def list_grants(session: Session, caller: Caller, *, state: str | None = "pending") -> list[Any]:
    """Clearance grants (pending by default), newest first, with the account's and the proposer's names."""
    require(caller, "security_officer")
    subject, proposer = aliased(User), aliased(User)
    query = (
        select(
            ClearanceGrant,
            subject.username.label("username"),
            proposer.username.label("proposed_by_name"),
        )
        .join(subject, subject.id == ClearanceGrant.user_id)
        .outerjoin(proposer, proposer.id == ClearanceGrant.proposed_by)
        .order_by(ClearanceGrant.proposed_at.desc())
    )
    if state is not None:
        query = query.where(ClearanceGrant.state == state)
    return list(session.execute(query).all())


def decide_grant(
    session: Session, caller: Caller, grant_id: uuid.UUID, *, approve: bool, comment: str = ""
) -> ClearanceChange:
    """A second security officer approves (applies) or denies a pending grant: never the proposer, never
    the account itself, never beyond the deciding officer's own access."""
    require(caller, "security_officer")
    grant = session.execute(
        select(ClearanceGrant).where(ClearanceGrant.id == grant_id).with_for_update()
    ).scalar_one_or_none()
    if grant is None:
        raise NotFoundError("clearance grant")
    if grant.state != "pending":
        raise ConflictError(f"the grant is {grant.state}, not pending")
    user = session.get(User, grant.user_id)
    assert user is not None  # a foreign key
    access = access_of(grant)
    roles = frozenset(grant.roles)
    if approve:
        _check_grantor(caller, access, user.id)
        if grant.proposed_by is not None and grant.proposed_by == caller.user_id:
            raise PermissionDeniedError("a grant is approved by a security officer other than its proposer")
    session.execute(
        update(ClearanceGrant)
        .where(ClearanceGrant.id == grant_id)
        .values(
            state="approved" if approve else "denied",
            decided_by=caller.user_id,
            decided_at=func.now(),
            decision_comment=comment.strip() or None,
        )
    )
    before, old_roles = access_of(user), roles_of(user)
    if approve:
        _apply(session, user, access, roles)
    audit.record(
        session,
        caller,
        "user.grant.approve" if approve else "user.grant.deny",
        item_type="user",
        item_id=user.id,
        details={
            "username": user.username,
            "grant": str(grant_id),
            "before": _grant_details(before, old_roles),
            "requested": _grant_details(access, roles),
            "comment": comment.strip(),
        },
    )
    return ClearanceChange(user)


def set_active(session: Session, caller: Caller, *, username: str, active: bool, reason: str = "") -> None:
    """Deactivate (every session ends at once) or reactivate an account: an admin's act. A deactivation
    gives a reason, which its holder is told when they sign in (issue 15: no silent lock-out)."""
    require(caller, "admin")
    why = reason.strip()
    if not active and not why:
        raise InvalidInputError("give a reason for the deactivation: its holder is told it at sign-in")
    user = get_user(session, username)
    role = "the system operator" if _is_operator(caller) else "an administrator"
    session.execute(
        update(User)
        .where(User.id == user.id)
        .values(
            active=active,
            deactivated_at=None if active else func.now(),
            deactivated_by_role=None if active else role,
            deactivation_reason=None if active else why,
        )
    )
    audit.record(
        session,
        caller,
        "user.activate" if active else "user.deactivate",
        item_type="user",
        item_id=user.id,
        details={"username": username, **({} if active else {"reason": why})},
    )
    if not active:
        sessions.end_all(session, caller, user.id, sessions.DEACTIVATED)


def unlock(session: Session, caller: Caller, *, username: str) -> None:
    """Lift a sign-in lock-out (and forget the failures): an admin's or security officer's act."""
    if not (caller.is_admin or caller.is_security_officer):
        raise PermissionDeniedError("unlocking an account needs the admin or security officer role")
    user = get_user(session, username)
    session.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_logins=0, locked_until=None, last_failed_login_at=None)
    )
    audit.record(
        session, caller, "user.unlock", item_type="user", item_id=user.id, details={"username": username}
    )


def end_sessions(session: Session, caller: Caller, *, username: str) -> int:
    """End every session of an account at once: a security officer's act (or an admin's). How many."""
    if not (caller.is_admin or caller.is_security_officer):
        raise PermissionDeniedError("ending sessions needs the security officer or admin role")
    user = get_user(session, username)
    return sessions.end_all(session, caller, user.id, sessions.ENDED_BY_OFFICER)


def reset_password(session: Session, caller: Caller, *, username: str, password_hash: str) -> None:
    """An admin sets a one-time password: every session ends, the lock-out is lifted, and the next sign-in
    must choose a new password."""
    require(caller, "admin")
    user = get_user(session, username)
    if caller.user_id == user.id:
        raise PermissionDeniedError("change your own password with your current one, not by a reset")
    session.execute(
        update(User)
        .where(User.id == user.id)
        .values(
            password_hash=password_hash,
            must_change_password=True,
            failed_logins=0,
            locked_until=None,
            last_failed_login_at=None,
        )
    )
    audit.record(
        session,
        caller,
        "user.password.reset",
        item_type="user",
        item_id=user.id,
        details={"username": username},
    )
    sessions.end_all(session, caller, user.id, sessions.RESET)


def change_own_password(session: Session, caller: Caller, *, password_hash: str) -> None:
    """The caller's new password (its current one checked by the caller of this function): every session of
    theirs ends, this one included."""
    if caller.user_id is None:
        raise PermissionDeniedError("the operator has no password")
    session.execute(
        update(User)
        .where(User.id == caller.user_id)
        .values(password_hash=password_hash, must_change_password=False)
    )
    audit.record(session, caller, "user.password.change", item_type="user", item_id=caller.user_id)
    sessions.end_all(session, caller, caller.user_id, sessions.PASSWORD)


def check_username(username: str) -> str:
    """The one rule for user names, wherever they are entered (CLI, API): 1 to 64 letters, digits and
    ``_ . @ -``."""
    if not USERNAME.fullmatch(username):
        raise InvalidInputError(
            f"user name {brief(username)}: use 1 to 64 letters, digits and the characters _ . @ -"
        )
    return username


def list_users(session: Session, caller: Caller) -> list[User]:
    if not (caller.is_admin or caller.is_security_officer):
        raise PermissionDeniedError("listing accounts needs the admin or security officer role")
    return list(session.execute(select(User).order_by(User.username)).scalars())
