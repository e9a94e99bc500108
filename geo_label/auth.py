"""Sign-in: local passwords with lock-out, bearer tokens (GeoLabel's own or an on-premises OIDC provider's).
Every login and failure is audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from geo_label import audit
from geo_label.callers import load_caller
from geo_label.db.context import Caller
from geo_label.db.models import USERS, User
from geo_label.errors import AuthenticationError
from geo_label.security.lockout import LoginState, after_failure, after_success, is_locked
from geo_label.security.oidc import OidcVerifier, looks_like_oidc
from geo_label.security.passwords import verify_against_dummy, verify_password
from geo_label.security.tokens import decode_access_token, issue_access_token
from geo_label.settings import Settings

INVALID_LOGIN = "incorrect username or password, or the account is locked"


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a password check. A failure is recorded (and must be committed) before it is reported,
    so the caller raises :class:`AuthenticationError` only after the transaction ends."""

    caller: Caller | None
    token: str | None = None
    expires_at: datetime | None = None


def login(
    session: Session,
    *,
    username: str,
    password: str,
    settings: Settings,
    signing_key: bytes,
    now: datetime | None = None,
) -> LoginResult:
    moment = now or datetime.now(UTC)
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active or user.password_hash is None:
        # Same cost as a real check: no user enumeration by timing.
        verify_against_dummy(password, settings.password_scheme)
        audit.record(session, None, "login.failure", actor_name=username, details={"reason": "unknown user"})
        return LoginResult(caller=None)
    state = LoginState(failed_attempts=user.failed_logins, locked_until=user.locked_until)
    if is_locked(state, moment):
        verify_against_dummy(password, settings.password_scheme)
        audit.record(session, None, "login.failure", actor_name=username, details={"reason": "locked"})
        return LoginResult(caller=None)
    if not verify_password(user.password_hash, password):
        failed = after_failure(
            state, now=moment, max_attempts=settings.lockout_attempts, lock_minutes=settings.lockout_minutes
        )
        session.execute(
            update(USERS)
            .where(USERS.c.id == user.id)
            .values(failed_logins=failed.failed_attempts, locked_until=failed.locked_until)
        )
        reason = "locked out" if failed.locked_until else "wrong password"
        audit.record(session, None, "login.failure", actor_name=username, details={"reason": reason})
        return LoginResult(caller=None)
    reset = after_success(state)
    session.execute(
        update(USERS)
        .where(USERS.c.id == user.id)
        .values(failed_logins=reset.failed_attempts, locked_until=None)
    )
    caller = load_caller(session, user.id)
    token, expires = issue_access_token(
        user_id=str(user.id), signing_key=signing_key, minutes=settings.token_minutes, now=moment
    )
    audit.record(session, caller, "login.success", item_type="user", item_id=user.id)
    return LoginResult(caller=caller, token=token, expires_at=expires)


def user_id_from_token(
    session: Session, token: str, *, signing_key: bytes, oidc: OidcVerifier | None
) -> uuid.UUID:
    """The local user a bearer token stands for: GeoLabel's own token, or an OIDC token mapped to the local
    account explicitly linked to its subject (``users add --oidc-subject``).

    Only the link maps a provider's token to an account. The username claim (``preferred_username``) is
    neither unique nor stable in OpenID Connect, so it never names the account: a token whose subject is
    linked to no account is refused, whatever name it carries."""
    if oidc is not None and looks_like_oidc(token, oidc):
        identity = oidc.verify(token)
        user_id = session.execute(
            select(User.id).where(User.oidc_subject == identity.subject)
        ).scalar_one_or_none()
        if user_id is None:
            raise AuthenticationError("invalid or expired token")
        return user_id
    claims = decode_access_token(token, signing_key=signing_key)
    try:
        return uuid.UUID(claims.user_id)
    except ValueError:
        raise AuthenticationError("invalid or expired token") from None
