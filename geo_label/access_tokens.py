"""Read-only access tokens for desktop and scripted clients (issue 22).

QGIS 3.22 and GDAL 3.6, as Debian 12 ships them, cannot send GeoLabel's bearer token; they send HTTP Basic.
So, as GitLab, GitHub and Esri do, a user makes a token for themself (named, with an expiry of at most
``access_token_max_days``), and QGIS presents it as the Basic password with the user's name: the account
password never sits in a desktop configuration and is never accepted that way.

A token stands for its account and nothing more: the account's access is read from the database on every
request, so deactivation, a clearance change and revocation act at once. The service accepts it on
read-only requests only (``api.basic_auth``). Only its SHA-256 is stored: it is 256 random bits, so no key
stretching is needed against guessing, and it is shown once, when made.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from geo_label import audit
from geo_label.db.context import Caller
from geo_label.db.models import ACCESS_TOKENS, USERS
from geo_label.errors import AuthenticationError, InvalidInputError, NotFoundError, PermissionDeniedError

#: Every token starts so: a password is never mistaken for one (and a leaked token is easy to find).
PREFIX = "glt_"
MAX_LABEL = 100
#: ``last_used_at`` is written at most this often per token (a desktop client makes many requests).
USE_RESOLUTION = timedelta(minutes=1)
REFUSED = "invalid, expired or revoked access token (the account password is never accepted here)"


@dataclass(frozen=True)
class IssuedToken:
    """A token as made: its secret is known only now."""

    id: uuid.UUID
    token: str
    label: str
    expires_at: datetime


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _account(session: Session, caller: Caller, username: str | None) -> Any:
    """The account a token is made or listed for: the caller's own, or, for the operator at the server's
    command line (and, to list and revoke, a security officer or admin), the named one."""
    name = username or caller.username
    if caller.user_id is None and username is None:
        raise InvalidInputError("name the account the token is for")
    if name != caller.username and not _may_manage_others(caller):
        raise PermissionDeniedError("only a security officer manages another account's access tokens")
    row = session.execute(
        select(USERS.c.id, USERS.c.username, USERS.c.active).where(USERS.c.username == name)
    )
    account = row.one_or_none()
    if account is None:
        raise NotFoundError("user")
    return account


def _may_manage_others(caller: Caller) -> bool:
    return caller.user_id is None or caller.is_security_officer or caller.is_admin


def create_token(
    session: Session,
    caller: Caller,
    *,
    label: str,
    max_days: int,
    expires_at: datetime | None = None,
    username: str | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """A new read-only token for the caller (or, for the operator, the named account); audited."""
    now = now or datetime.now(UTC)
    name = label.strip()
    if not 1 <= len(name) <= MAX_LABEL:
        raise InvalidInputError(f"a token's label has 1 to {MAX_LABEL} characters")
    if username is not None and caller.user_id is not None and username != caller.username:
        raise PermissionDeniedError("an access token is made by its own account (or the server's operator)")
    account = _account(session, caller, username)
    if not account.active:
        raise InvalidInputError(f"{account.username} is deactivated")
    latest = now + timedelta(days=max_days)
    expires = expires_at or latest
    if expires.tzinfo is None:
        raise InvalidInputError("the expiry needs a time zone")
    if not now < expires <= latest:
        raise InvalidInputError(f"an access token expires in the future and within {max_days} days")
    token_id = uuid.uuid4()
    token = PREFIX + secrets.token_urlsafe(32)
    session.execute(
        insert(ACCESS_TOKENS).values(
            id=token_id,
            user_id=account.id,
            label=name,
            token_hash=digest(token),
            created_at=now,
            created_by=caller.user_id,
            expires_at=expires,
        )
    )
    _audit(session, caller, "token.create", account, token_id, label=name, expires_at=expires.isoformat())
    return IssuedToken(id=token_id, token=token, label=name, expires_at=expires)


def list_tokens(session: Session, caller: Caller, *, username: str | None = None) -> list[Any]:
    """The account's tokens, newest first, with their state (never their secret or hash)."""
    account = _account(session, caller, username)
    t = ACCESS_TOKENS.c
    query = (
        select(t.id, t.label, t.created_at, t.expires_at, t.last_used_at, t.revoked_at)
        .where(t.user_id == account.id)
        .order_by(t.created_at.desc(), t.id)
    )
    return list(session.execute(query).mappings())


def state_of(row: Any, now: datetime) -> str:
    if row["revoked_at"] is not None:
        return "revoked"
    return "expired" if row["expires_at"] <= now else "active"


def describe(row: Any, now: datetime) -> dict[str, Any]:
    """A listed token as the API and the CLI show it (its state as of ``now``)."""
    return {
        "id": row["id"],
        "label": row["label"],
        "created_at": row["created_at"],
        "expires": row["expires_at"],
        "last_used_at": row["last_used_at"],
        "revoked_at": row["revoked_at"],
        "state": state_of(row, now),
    }


def revoke_token(
    session: Session, caller: Caller, token_id: uuid.UUID, *, username: str | None = None
) -> bool:
    """Revoke one of the account's tokens (the caller's own, or, for a security officer, admin or the
    operator, anyone's); it is refused from the next request. Whether it was live; audited when it was."""
    account = _account(session, caller, username)
    t = ACCESS_TOKENS.c
    found = session.execute(
        select(t.revoked_at).where(t.id == token_id, t.user_id == account.id).with_for_update()
    ).one_or_none()
    if found is None:
        raise NotFoundError("access token")
    if found.revoked_at is not None:
        return False
    session.execute(
        update(ACCESS_TOKENS)
        .where(t.id == token_id)
        .values(revoked_at=datetime.now(UTC), revoked_by=caller.user_id)
    )
    _audit(session, caller, "token.revoke", account, token_id)
    return True


def authenticate(
    session: Session, username: str, token: str, *, now: datetime | None = None
) -> tuple[uuid.UUID, uuid.UUID]:
    """(user id, token id) of a live token of the active account ``username``; AuthenticationError
    otherwise, the same whatever the reason (no account, a password, a revoked or expired token)."""
    now = now or datetime.now(UTC)
    if not token.startswith(PREFIX):
        raise AuthenticationError(REFUSED)
    t, u = ACCESS_TOKENS.c, USERS.c
    row = session.execute(
        select(t.id, t.user_id, t.last_used_at)
        .join(USERS, u.id == t.user_id)
        .where(
            t.token_hash == digest(token),
            u.username == username,
            u.active.is_(True),
            t.revoked_at.is_(None),
            t.expires_at > now,
        )
    ).one_or_none()
    if row is None:
        raise AuthenticationError(REFUSED)
    if row.last_used_at is None or now - row.last_used_at >= USE_RESOLUTION:
        session.execute(update(ACCESS_TOKENS).where(t.id == row.id).values(last_used_at=now))
    return row.user_id, row.id


def _audit(
    session: Session, caller: Caller, action: str, account: Any, token_id: uuid.UUID, **details: Any
) -> None:
    audit.record(
        session,
        caller,
        action,
        item_type="user",
        item_id=account.id,
        details={"username": account.username, "token_id": str(token_id), **details},
    )
