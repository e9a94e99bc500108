"""Sign-in, token renewal and sign-out.

``POST /auth/token`` takes ``{"username", "password"}`` as JSON (what the UI sends: a browser must ask a CORS
preflight first, which GeoLabel never grants another origin) or as the OAuth2 password form for non-browser
clients. A browser sends ``Origin`` with every POST, so a form posted by a page of another origin is refused
before any account is looked at: it can neither sign in nor count failures towards a lock-out.
"""

from __future__ import annotations

import ipaddress
import math
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import anyio
from fastapi import APIRouter, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from api.basic_auth import source_of
from api.deps import BearerToken, StateDep
from api.http_protocol import PEER_EXTENSION
from api.schemas import NoticeOut, RenewIn, SessionOut, SignInIn, TokenOut
from api.state import AppState
from geo_label import audit, sessions
from geo_label.auth import (
    INVALID_LOGIN,
    LoginResult,
    SignInAttempt,
    certificate_sign_in,
    check_password,
    issue_session_token,
    look_up,
    record_outcome,
    subject_of_token,
)
from geo_label.certificates import canonical_subject
from geo_label.errors import (
    AuthenticationError,
    InvalidInputError,
    PermissionDeniedError,
    TooManyRequestsError,
)
from geo_label.settings import Settings

router = APIRouter(prefix="/auth", tags=["auth"])

#: How long a sign-in that will be refused (throttled source, no free password check) is held before its 429:
#: the connection waits and the server does nothing, so a client retrying at once is paced to about one try a
#: second instead of turning instant 429s into a flood of its own (measured: 500 refusals a second from 32
#: connections kept a signed-in /me at 38x its idle time; benchmarks/signin.py).
TARPIT_SECONDS = 1.0

SIGN_IN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SignInIn"}},
            "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/SignInIn"}},
        },
    }
}


def check_same_origin(request: Request) -> None:
    """Refuse a browser request sent by a page of another origin (its ``Origin`` names another host)."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    if origin == "null" or urllib.parse.urlsplit(origin).netloc != host:
        raise PermissionDeniedError("sign-in is accepted only from GeoLabel's own pages")


async def credentials(request: Request) -> SignInIn:
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            return SignInIn.model_validate_json(body)
        if kind == "application/x-www-form-urlencoded":
            form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=8)
            return SignInIn(username=form.get("username", [""])[0], password=form.get("password", [""])[0])
    except (ValidationError, UnicodeDecodeError, ValueError):
        raise InvalidInputError("send a username (1 to 64 characters) and a password") from None
    raise InvalidInputError("send the credentials as JSON or as a form")


def token_out(
    token: str, expires: datetime, state: sessions.SessionState, now: datetime, **extra: Any
) -> TokenOut:
    return TokenOut(
        access_token=token,
        expires_in=max(1, round((expires - now.replace(microsecond=0)).total_seconds())),
        session=SessionOut(id=state.id, idle_seconds=state.idle_seconds, ends_at=state.ends_at),
        **extra,
    )


def _look_up(app: AppState, username: str, now: datetime) -> SignInAttempt:
    with app.database.sessions() as session, session.begin():
        return look_up(session, username, now=now)


def _retry_after(app: AppState, source: str, username: str, now: datetime) -> float:
    with app.database.sessions() as session, session.begin():
        return app.throttle.retry_after(session, source, username, now)


def _record(app: AppState, attempt: SignInAttempt, ok: bool, now: datetime, source: str) -> LoginResult:
    """The outcome, and the source's throttle counts, in one transaction (shared by every process)."""
    with app.database.sessions() as session, session.begin():
        audited, summary = True, None
        if ok:
            app.throttle.succeeded(session, source, attempt.username)
        else:
            audited, summary = app.throttle.failed(session, source, attempt.username, now)
        if summary is not None:
            audit.record(
                session,
                None,
                "login.failure.summary",
                actor_name=None,
                details={
                    "source": summary.source,
                    "failures": summary.failures,
                    "usernames": list(summary.usernames),
                    "since": summary.since.isoformat(),
                },
            )
        return record_outcome(
            session,
            attempt,
            ok=ok,
            settings=app.settings,
            signing_key=app.signing_key,
            now=now,
            source=source,
            audit_failure=audited,
        )


def _certificate(app: AppState, subject: str, now: datetime, source: str) -> LoginResult:
    with app.database.sessions() as session, session.begin():
        return certificate_sign_in(
            session, subject, settings=app.settings, signing_key=app.signing_key, now=now, source=source
        )


def verified_subject(request: Request, settings: Settings) -> str | None:
    """The subject of the client certificate this request came with: verified by GeoLabel's own TLS, or by
    a reverse proxy that passes it in the configured header (believed only when the connection itself comes
    from a trusted proxy's address)."""
    extensions = request.scope.get("extensions") or {}
    subject = (extensions.get("tls") or {}).get("client_cert_name")
    if subject:
        return str(subject)
    header, peer = settings.certificate_subject_header, extensions.get(PEER_EXTENSION)
    if not header or peer is None or not is_trusted_proxy(str(peer), settings.trusted_proxies):
        return None
    passed = request.headers.get(header)
    return canonical_subject(urllib.parse.unquote(passed)) if passed else None


def is_trusted_proxy(address: str, proxies: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(proxy, strict=False) for proxy in proxies if proxy != "*")


@router.post("/certificate", response_model=TokenOut)
async def certificate(request: Request, state: StateDep) -> TokenOut:
    """Sign in with an X.509 client certificate (a PKI smart card): the account linked to its subject gets a
    session and its token, as with a password."""
    check_same_origin(request)
    subject = verified_subject(request, state.settings)
    if subject is None:
        raise AuthenticationError("no verified client certificate came with this request")
    source, now = source_of(request), datetime.now(UTC)
    async with state.db_slots:
        result = await run_in_threadpool(_certificate, state, subject, now, source)
    if result.deactivated is not None:
        raise PermissionDeniedError(result.deactivated)
    if result.caller is None or result.token is None or result.session is None or result.expires_at is None:
        raise AuthenticationError("this certificate is not linked to an active account")
    return token_out(result.token, result.expires_at, result.session, now)


@router.get("/notice", response_model=NoticeOut)
def notice(state: StateDep) -> NoticeOut:
    """The notice-and-consent banner to show, and have accepted, before the sign-in form."""
    return NoticeOut(text=state.settings.consent_notice)


@router.post("/token", response_model=TokenOut, openapi_extra=SIGN_IN_BODY)
async def token(request: Request, state: StateDep) -> TokenOut:
    """Sign in: a session and its short-lived bearer token (renew it with ``POST /auth/renew``).

    Failures from one source slow it down (429 with Retry-After); three failures in a row within 15 minutes
    lock the account; a full pool of password checks answers 429 too."""
    check_same_origin(request)
    given = await credentials(request)
    source, now = source_of(request), datetime.now(UTC)
    async with state.db_slots:
        wait = await run_in_threadpool(_retry_after, state, source, given.username, now)
    if wait > 0:
        await anyio.sleep(min(wait, TARPIT_SECONDS))
        retry = math.ceil(max(1.0, wait - TARPIT_SECONDS))
        raise TooManyRequestsError("too many failed sign-ins from here; wait and try again", retry)
    try:
        with anyio.fail_after(TARPIT_SECONDS):
            await state.password_slots.acquire()
    except TimeoutError:
        raise TooManyRequestsError("the server is busy checking passwords; try again", 1) from None
    try:
        async with state.db_slots:
            attempt = await run_in_threadpool(_look_up, state, given.username, now)
        ok = await anyio.to_thread.run_sync(check_password, attempt, given.password, state.settings)
    finally:
        state.password_slots.release()
    async with state.db_slots:
        result = await run_in_threadpool(_record, state, attempt, ok, now, source)
    # The failure (and a lock-out) is committed above before it is reported.
    if result.deactivated is not None:  # the right password: its holder is told why (issue 15)
        raise PermissionDeniedError(result.deactivated)
    if result.caller is None or result.token is None or result.session is None or result.expires_at is None:
        raise AuthenticationError(INVALID_LOGIN)
    return token_out(
        result.token, result.expires_at, result.session, now, must_change_password=result.must_change_password
    )


def required(token: str | None) -> str:
    if not token:
        raise AuthenticationError("sign in first: send a bearer token")
    return token


@router.post("/renew", response_model=TokenOut)
def renew(state: StateDep, token: BearerToken, body: RenewIn) -> TokenOut:
    """A fresh token for the same session (the old one may have just expired), recording when the user last
    gave input. A session idle too long, signed out or past its end answers 401 ``session_ended``."""
    now = datetime.now(UTC)
    with state.database.sessions() as session:
        try:
            with session.begin():
                subject = subject_of_token(
                    session,
                    required(token),
                    signing_key=state.signing_key,
                    oidc=state.oidc,
                    now=now,
                    allow_expired=True,
                )
                if subject.session_id is None:
                    raise InvalidInputError("a provider's token is renewed by the provider")
                live = sessions.renew(
                    session, subject.session_id, subject.user_id, idle_seconds=body.idle_seconds, now=now
                )
                fresh, expires = issue_session_token(
                    subject.user_id, live.id, state.settings, state.signing_key, now=now
                )
                return token_out(fresh, expires, live, now)
        except sessions.SessionEndedError as ended:
            sessions.keep_end(session, ended)
            raise


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(state: StateDep, token: BearerToken) -> None:
    """End the caller's session: its tokens are refused from now on. Signing out twice is no error."""
    with state.database.sessions() as session, session.begin():
        try:
            subject = subject_of_token(
                session, required(token), signing_key=state.signing_key, oidc=state.oidc, allow_expired=True
            )
        except sessions.SessionEndedError:
            return
        if subject.session_id is not None:
            sessions.end(session, None, subject.session_id, sessions.LOGOUT)
