"""Typed dependencies. One dependency resolves the caller, opens the request's transaction and hands the
caller's attributes to row-level security; every protected route gets it through its router."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from access_control import MarkingRegistry
from api.basic_auth import basic_credentials, require_read_only, require_safe_transport, source_of
from api.state import AppState
from geo_label import access_tokens, audit, sessions
from geo_label.callers import load_caller
from geo_label.db.context import Caller, set_caller_context
from geo_label.errors import AuthenticationError, PermissionDeniedError
from geo_label.sessions import SessionEndedError

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
#: The request's bearer token, if any.
BearerToken = Annotated[str | None, Depends(oauth2)]


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.geo_label
    return state


StateDep = Annotated[AppState, Depends(app_state)]


@dataclass(frozen=True)
class Context:
    """The request's transaction and the caller it runs as."""

    session: Session
    caller: Caller
    registry: MarkingRegistry


async def database_slot(state: StateDep) -> AsyncIterator[None]:
    """Admission: at most as many requests use the database at once as it has connections.

    A request's transaction is opened in one worker thread (the caller's dependency) and used in another (the
    route), so without a bound the worker threads can all be waiting for a connection while every connection
    waits for a thread to finish its request: under a hundred concurrent requests, timeouts and errors. A
    request waits here, in the event loop and holding neither, until a connection is sure to be free.
    """
    async with state.db_slots:
        yield


DatabaseSlot = Depends(database_slot, scope="function")


#: What an account whose password was reset may still do: see itself, choose a new password, and have the
#: page's banner computed (from markings it sends; it reads nothing stored).
PASSWORD_CHANGE_PATHS = frozenset({"/api/v1/me", "/api/v1/me/password", "/api/v1/markings/rollup"})


def request_context(
    request: Request,
    state: StateDep,
    token: BearerToken,
    _slot: Annotated[None, DatabaseSlot],
) -> Iterator[Context]:
    credentials = None if token else basic_credentials(request)
    if not token and credentials is None:
        raise AuthenticationError(
            "sign in first: send a bearer token (desktop GIS, scripts: Basic with a read-only access token)"
        )
    if credentials is not None:
        require_safe_transport(request)
    from geo_label.auth import caller_of_token

    caller: Caller | None = None
    with state.database.sessions() as session:
        try:
            with session.begin():
                # The caller's attributes come from the database on every request, whatever the credential.
                if token:
                    caller = caller_of_token(session, token, signing_key=state.signing_key, oidc=state.oidc)
                else:
                    assert credentials is not None
                    user_id, token_id = access_tokens.authenticate(
                        session, credentials.username, credentials.password
                    )
                    caller = replace(load_caller(session, user_id), access_token_id=token_id)
                    require_read_only(request)
                if caller.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
                    raise PermissionDeniedError("choose a new password first (POST /api/v1/me/password)")
                set_caller_context(session, caller)
                yield Context(session=session, caller=caller, registry=state.registry)
        except SessionEndedError as ended:
            sessions.keep_end(session, ended)
            raise
        except AuthenticationError as refused:
            if credentials is not None and caller is None:
                # A refused access token (or an attempt with the password) is kept as a failed sign-in is.
                with session.begin():
                    audit.record(
                        session,
                        None,
                        "token.refused",
                        actor_name=credentials.username[:64],
                        details={"reason": refused.detail, "source": source_of(request)},
                    )
            raise
        except PermissionDeniedError as refused:
            if caller is None:
                raise
            # The act was rolled back; its refusal is security-relevant and is kept, in a transaction of its
            # own. (Hidden content is never refused with this error: it is "not found".)
            with session.begin():
                set_caller_context(session, caller)
                audit.record(session, caller, "access.denied", details={"reason": refused.detail})
            raise


#: ``scope="function"``: the transaction commits when the route returns, before the response is sent, so a
#: failed commit can never follow a 2xx the client already received.
RequestContext = Depends(request_context, scope="function")
ContextDep = Annotated[Context, RequestContext]
