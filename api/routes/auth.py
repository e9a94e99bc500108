"""Sign-in: OAuth2 password flow for local accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import DatabaseSlot, StateDep
from api.schemas import TokenOut
from geo_label.auth import INVALID_LOGIN, login
from geo_label.errors import AuthenticationError

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=TokenOut, dependencies=[DatabaseSlot])
def token(state: StateDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    """Exchange a username and password for a short-lived bearer token. Repeated failures lock the account."""
    with state.database.sessions() as session, session.begin():
        result = login(
            session,
            username=form.username,
            password=form.password,
            settings=state.settings,
            signing_key=state.signing_key,
        )
    # The failure (and a lock-out) is committed above before it is reported.
    if result.caller is None or result.token is None:
        raise AuthenticationError(INVALID_LOGIN)
    return TokenOut(access_token=result.token, expires_in=state.settings.token_minutes * 60)
