"""Sign-in sessions, kept by the server (what the application security STIG asks of session management).

A sign-in starts a session; access tokens are short (``GEO_LABEL_TOKEN_MINUTES``) and name it. The page
renews its token while the session lives, telling the server how long ago the user last touched keyboard or
pointer, and the server alone decides whether the session still lives:

* it ends after ``GEO_LABEL_IDLE_MINUTES`` without user input (``GEO_LABEL_ADMIN_IDLE_MINUTES`` for admins and
  security officers), measured from the last input a renewal reported, so an open tab that nobody touches
  does not keep it alive;
* it ends ``GEO_LABEL_SESSION_HOURS`` after sign-in whatever happens;
* it ends at sign-out, and every session of a user ends at once on a password change or reset, on
  deactivation, and when a security officer ends them.

How it ended is kept (``end_reason``) and audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session

from geo_label import audit
from geo_label.callers import caller_of_row, caller_query
from geo_label.db.context import Caller
from geo_label.db.models import SESSIONS, USERS
from geo_label.errors import AuthenticationError

#: How a session ended.
LOGOUT, IDLE, EXPIRED, PASSWORD, RESET, DEACTIVATED, ENDED_BY_OFFICER = (
    "logout",
    "idle",
    "expired",
    "password_changed",
    "password_reset",
    "deactivated",
    "ended_by_officer",
)


class SessionEndedError(AuthenticationError):
    """The token's session is over (signed out, idle, too old, or ended by an officer): sign in again."""

    code = "session_ended"

    def __init__(self, reason: str, session_id: uuid.UUID | None = None) -> None:
        super().__init__("your session has ended; sign in again")
        self.reason = reason
        self.session_id = session_id


@dataclass(frozen=True)
class SessionLimits:
    idle: timedelta
    admin_idle: timedelta
    lifetime: timedelta

    def idle_for(self, roles: frozenset[str]) -> timedelta:
        return self.admin_idle if roles & {"admin", "security_officer"} else self.idle


@dataclass(frozen=True)
class SessionState:
    id: uuid.UUID
    idle_seconds: int
    ends_at: datetime
    last_activity_at: datetime


def start(
    session: Session,
    user_id: uuid.UUID,
    roles: frozenset[str],
    limits: SessionLimits,
    *,
    now: datetime,
    source: str | None,
) -> SessionState:
    idle = max(1, int(limits.idle_for(roles).total_seconds()))
    state = SessionState(
        id=uuid.uuid4(), idle_seconds=idle, ends_at=now + limits.lifetime, last_activity_at=now
    )
    session.execute(
        insert(SESSIONS).values(
            id=state.id,
            user_id=user_id,
            started_at=now,
            last_activity_at=now,
            idle_seconds=idle,
            ends_at=state.ends_at,
            source=(source or "")[:64] or None,
        )
    )
    return state


def ended_because(row: Any, now: datetime) -> str | None:
    """Why the session ``row`` (ended_at, end_reason, last_activity_at, idle_seconds, ends_at) is over at
    ``now``, or None while it lives."""
    if row.ended_at is not None:
        return str(row.end_reason or LOGOUT)
    if now >= row.ends_at:
        return EXPIRED
    if now - row.last_activity_at > timedelta(seconds=row.idle_seconds):
        return IDLE
    return None


def check(session: Session, session_id: uuid.UUID, user_id: uuid.UUID, *, now: datetime) -> Any:
    """The live session ``session_id`` of ``user_id``; SessionEndedError (with the reason) otherwise."""
    row = session.execute(
        select(SESSIONS, SESSIONS.c.id.label("session_id")).where(
            SESSIONS.c.id == session_id, SESSIONS.c.user_id == user_id
        )
    ).one_or_none()
    return _live(row, session_id, now)


def _live(row: Any, session_id: uuid.UUID, now: datetime) -> Any:
    """``row`` (a session's columns) if it is a session that lives at ``now``; AuthenticationError when
    there is none, SessionEndedError (with the reason) when it ended."""
    if row is None or row.session_id is None:
        raise AuthenticationError("invalid or expired token")
    reason = ended_because(row, now)
    if reason is not None:
        raise SessionEndedError(reason, session_id if row.ended_at is None else None)
    return row


def caller_of(session: Session, session_id: uuid.UUID, user_id: uuid.UUID, *, now: datetime) -> Caller:
    """The caller of the live session ``session_id`` of ``user_id``: the session checked as :func:`check`
    does, then the caller loaded as :func:`geo_label.callers.load_caller` does, in one statement (every
    request with a bearer token makes it)."""
    s = SESSIONS.c
    query = (
        caller_query(user_id)
        .add_columns(
            s.id.label("session_id"), s.ended_at, s.end_reason, s.last_activity_at, s.idle_seconds, s.ends_at
        )
        .outerjoin(SESSIONS, and_(s.id == session_id, s.user_id == USERS.c.id))
        .group_by(s.id)
    )
    return caller_of_row(_live(session.execute(query).one_or_none(), session_id, now))


def renew(
    session: Session, session_id: uuid.UUID, user_id: uuid.UUID, *, idle_seconds: int, now: datetime
) -> SessionState:
    """Record that the user's last input was ``idle_seconds`` ago (never moving it back) and return the
    session, or raise SessionEndedError when that input was too long ago."""
    row = check(session, session_id, user_id, now=now)
    last_input = max(row.last_activity_at, now - timedelta(seconds=max(0, idle_seconds)))
    if now - last_input > timedelta(seconds=row.idle_seconds):
        raise SessionEndedError(IDLE, session_id)
    session.execute(update(SESSIONS).where(SESSIONS.c.id == session_id).values(last_activity_at=last_input))
    return SessionState(
        id=session_id, idle_seconds=row.idle_seconds, ends_at=row.ends_at, last_activity_at=last_input
    )


def keep_end(session: Session, ended: SessionEndedError) -> None:
    """Record how a session found over ended (idle, past its end), in a transaction of its own: the
    request's own transaction is rolled back with the refusal. One already ended needs nothing."""
    if ended.session_id is not None:
        with session.begin():
            end(session, None, ended.session_id, ended.reason)


def end(session: Session, caller: Caller | None, session_id: uuid.UUID, reason: str) -> bool:
    """End one session (if still open); audited. Whether it was open."""
    done = session.execute(
        update(SESSIONS)
        .where(SESSIONS.c.id == session_id, SESSIONS.c.ended_at.is_(None))
        .values(ended_at=func.now(), end_reason=reason)
        .returning(SESSIONS.c.user_id)
    ).scalar_one_or_none()
    if done is not None:
        audit.record(
            session,
            caller,
            "session.end",
            item_type="session",
            item_id=session_id,
            details={"reason": reason, "user_id": str(done)},
        )
    return done is not None


def end_all(session: Session, caller: Caller | None, user_id: uuid.UUID, reason: str) -> int:
    """End every open session of ``user_id`` at once; audited. How many there were."""
    ended = (
        session.execute(
            update(SESSIONS)
            .where(SESSIONS.c.user_id == user_id, SESSIONS.c.ended_at.is_(None))
            .values(ended_at=func.now(), end_reason=reason)
            .returning(SESSIONS.c.id)
        )
        .scalars()
        .all()
    )
    if ended:
        audit.record(
            session,
            caller,
            "session.end_all",
            item_type="user",
            item_id=user_id,
            details={"reason": reason, "sessions": len(ended)},
        )
    return len(ended)
