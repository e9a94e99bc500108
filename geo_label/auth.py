"""Sign-in: local passwords with lock-out, sessions and their short bearer tokens, and OIDC provider tokens.

A password sign-in runs in three steps so that the slow password check (argon2id, 64 MiB) holds no database
connection: :func:`look_up` reads the account in a short transaction, :func:`check_password` runs outside any
transaction (the API bounds how many run at once), and :func:`record_outcome` records the failure (and a
lock-out) or starts the session, in a second short transaction. Every outcome is audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from geo_label import audit, sessions
from geo_label.callers import load_caller
from geo_label.db.context import Caller
from geo_label.db.models import USERS, User
from geo_label.errors import AuthenticationError
from geo_label.security.lockout import LoginState, after_failure, is_locked
from geo_label.security.oidc import OidcVerifier, looks_like_oidc
from geo_label.security.passwords import verify_against_dummy, verify_password
from geo_label.security.tokens import decode_access_token, issue_access_token
from geo_label.settings import Settings

INVALID_LOGIN = "incorrect username or password, or the account is locked"


def session_limits(settings: Settings) -> sessions.SessionLimits:
    return sessions.SessionLimits(
        idle=timedelta(minutes=settings.idle_minutes),
        admin_idle=timedelta(minutes=settings.admin_idle_minutes),
        lifetime=timedelta(hours=settings.session_hours),
    )


@dataclass(frozen=True)
class SignInAttempt:
    """What the first step read: the account (None when unknown, inactive or without a password)."""

    username: str
    user_id: uuid.UUID | None
    password_hash: str | None
    state: LoginState
    locked: bool
    #: For a deactivated account: what its holder is told once they gave its password.
    deactivated: str | None = None


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a sign-in. A failure is recorded (and must be committed) before it is reported."""

    caller: Caller | None
    token: str | None = None
    expires_at: datetime | None = None
    session: sessions.SessionState | None = None
    must_change_password: bool = False
    locked_out: bool = False
    #: The right password for a deactivated account: why it cannot sign in (issue 15: no silent lock-out).
    deactivated: str | None = None


def look_up(session: Session, username: str, *, now: datetime) -> SignInAttempt:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or user.password_hash is None:
        return SignInAttempt(username, None, None, LoginState(), locked=False)
    state = LoginState(user.failed_logins, user.locked_until, user.last_failed_login_at)
    told = None if user.active else deactivation_notice(user)
    return SignInAttempt(
        username, user.id, user.password_hash, state, locked=is_locked(state, now), deactivated=told
    )


def deactivation_notice(user: User) -> str:
    """What the holder of a deactivated account is told: since when, by which role, why, and what to do."""
    when = user.deactivated_at.date().isoformat() if user.deactivated_at else "an earlier date"
    who = user.deactivated_by_role or "an administrator"
    why = user.deactivation_reason or "no reason was recorded"
    return (
        f"this account was deactivated on {when} by {who}: {why}. To ask for a review, contact your "
        "security officer or system administrator"
    )


def check_password(attempt: SignInAttempt, password: str, settings: Settings) -> bool:
    """The password check, outside any transaction. An unknown or locked account costs the same as a real
    check: no user enumeration by timing."""
    if attempt.password_hash is None or attempt.locked:
        verify_against_dummy(password, settings.password_scheme)
        return False
    return verify_password(attempt.password_hash, password)


def record_outcome(
    session: Session,
    attempt: SignInAttempt,
    *,
    ok: bool,
    settings: Settings,
    signing_key: bytes,
    now: datetime,
    source: str | None,
    audit_failure: bool = True,
) -> LoginResult:
    """Record a failure (and lock the account after repeated ones) or start a session and issue its token."""
    if not ok or attempt.user_id is None:
        return _failure(session, attempt, settings=settings, now=now, source=source, audited=audit_failure)
    if attempt.deactivated is not None:
        audit.record(
            session,
            None,
            "login.refused.deactivated",
            item_type="user",
            item_id=attempt.user_id,
            actor_name=attempt.username,
            details={"source": source},
        )
        return LoginResult(caller=None, deactivated=attempt.deactivated)
    session.execute(
        update(USERS)
        .where(USERS.c.id == attempt.user_id)
        .values(failed_logins=0, locked_until=None, last_failed_login_at=None)
    )
    caller = load_caller(session, attempt.user_id)
    must_change = bool(
        session.execute(select(User.must_change_password).where(User.id == attempt.user_id)).scalar_one()
    )
    state = sessions.start(
        session, attempt.user_id, caller.roles, session_limits(settings), now=now, source=source
    )
    token, expires = issue_session_token(attempt.user_id, state.id, settings, signing_key, now=now)
    audit.record(
        session,
        caller,
        "login.success",
        item_type="user",
        item_id=attempt.user_id,
        details={"session": str(state.id), "source": source},
    )
    return LoginResult(caller, token, expires, state, must_change_password=must_change)


def _failure(
    session: Session,
    attempt: SignInAttempt,
    *,
    settings: Settings,
    now: datetime,
    source: str | None,
    audited: bool,
) -> LoginResult:
    reason = "unknown user" if attempt.user_id is None else "locked" if attempt.locked else "wrong password"
    locked_out = False
    if attempt.user_id is not None and not attempt.locked:
        failed = after_failure(
            attempt.state,
            now=now,
            max_attempts=settings.lockout_attempts,
            lock_minutes=settings.lockout_minutes,
            window_minutes=settings.lockout_window_minutes,
        )
        session.execute(
            update(USERS)
            .where(USERS.c.id == attempt.user_id)
            .values(
                failed_logins=failed.failed_attempts,
                locked_until=failed.locked_until,
                last_failed_login_at=failed.last_failure,
            )
        )
        locked_out = failed.locked_until is not None
    if locked_out:
        # Security officers see lock-outs as they happen, whatever the aggregation of failures.
        audit.record(
            session,
            None,
            "login.lockout",
            item_type="user",
            item_id=attempt.user_id,
            actor_name=attempt.username,
            details={"source": source, "failures": settings.lockout_attempts},
        )
    elif audited:
        audit.record(
            session,
            None,
            "login.failure",
            actor_name=attempt.username,
            details={"reason": reason, "source": source},
        )
    return LoginResult(caller=None, locked_out=locked_out)


def certificate_sign_in(
    session: Session,
    subject: str,
    *,
    settings: Settings,
    signing_key: bytes,
    now: datetime,
    source: str | None,
) -> LoginResult:
    """Sign in with a client certificate the TLS layer (or a trusted proxy) verified: the active account
    linked to its subject gets a session, as a password sign-in does. Audited either way."""
    user = session.execute(select(User).where(User.certificate_subject == subject)).scalar_one_or_none()
    if user is None or not user.active:
        audit.record(
            session,
            None,
            "login.failure",
            actor_name=None,
            details={
                "reason": "unknown certificate" if user is None else "inactive",
                "subject": subject,
                "source": source,
            },
        )
        return LoginResult(caller=None, deactivated=deactivation_notice(user) if user is not None else None)
    caller = load_caller(session, user.id)
    state = sessions.start(session, user.id, caller.roles, session_limits(settings), now=now, source=source)
    token, expires = issue_session_token(user.id, state.id, settings, signing_key, now=now)
    audit.record(
        session,
        caller,
        "login.success",
        item_type="user",
        item_id=user.id,
        details={"session": str(state.id), "source": source, "certificate": subject},
    )
    return LoginResult(caller, token, expires, state, must_change_password=False)


def issue_session_token(
    user_id: uuid.UUID, session_id: uuid.UUID, settings: Settings, signing_key: bytes, *, now: datetime
) -> tuple[str, datetime]:
    return issue_access_token(
        user_id=str(user_id),
        session_id=str(session_id),
        signing_key=signing_key,
        minutes=settings.token_minutes,
        now=now,
    )


@dataclass(frozen=True)
class TokenSubject:
    """Who a bearer token stands for, and in which sign-in session (None for an OIDC provider's token,
    whose sessions the provider keeps)."""

    user_id: uuid.UUID
    session_id: uuid.UUID | None


def subject_of_token(
    session: Session,
    token: str,
    *,
    signing_key: bytes,
    oidc: OidcVerifier | None,
    now: datetime | None = None,
    allow_expired: bool = False,
) -> TokenSubject:
    """The local user a bearer token stands for: GeoLabel's own token (in a session that still lives), or an
    OIDC token mapped to the local account explicitly linked to its subject (``users add --oidc-subject``).

    Only the link maps a provider's token to an account. The username claim (``preferred_username``) is
    neither unique nor stable in OpenID Connect, so it never names the account: a token whose subject is
    linked to no account is refused, whatever name it carries."""
    moment = now or datetime.now(UTC)
    if oidc is not None and looks_like_oidc(token, oidc):
        return TokenSubject(_linked_account(session, token, oidc), None)
    subject = _local_subject(token, signing_key, moment, allow_expired)
    assert subject.session_id is not None
    sessions.check(session, subject.session_id, subject.user_id, now=moment)
    return subject


def caller_of_token(
    session: Session,
    token: str,
    *,
    signing_key: bytes,
    oidc: OidcVerifier | None,
    now: datetime | None = None,
) -> Caller:
    """The caller a bearer token stands for (as :func:`subject_of_token` finds them), loaded from the
    database; for GeoLabel's own token, the session's check and the caller in one statement."""
    moment = now or datetime.now(UTC)
    if oidc is not None and looks_like_oidc(token, oidc):
        return load_caller(session, _linked_account(session, token, oidc))
    subject = _local_subject(token, signing_key, moment, allow_expired=False)
    assert subject.session_id is not None
    return sessions.caller_of(session, subject.session_id, subject.user_id, now=moment)


def _linked_account(session: Session, token: str, oidc: OidcVerifier) -> uuid.UUID:
    identity = oidc.verify(token)
    user_id = session.execute(
        select(User.id).where(User.oidc_subject == identity.subject)
    ).scalar_one_or_none()
    if user_id is None:
        raise AuthenticationError("invalid or expired token")
    return user_id


def _local_subject(token: str, signing_key: bytes, now: datetime, allow_expired: bool) -> TokenSubject:
    claims = decode_access_token(token, signing_key=signing_key, now=now, allow_expired=allow_expired)
    try:
        return TokenSubject(uuid.UUID(claims.user_id), uuid.UUID(claims.session_id))
    except ValueError:
        raise AuthenticationError("invalid or expired token") from None
