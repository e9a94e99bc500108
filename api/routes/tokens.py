"""Read-only access tokens: your own (``/me/tokens``), and, for a security officer, anyone's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.deps import ContextDep, StateDep
from api.errors import NO_STORE
from api.responses import JSONResponse
from geo_label import access_tokens as service

router = APIRouter(tags=["access tokens"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(description="What the token is for, e.g. 'QGIS on my workstation'.")
    expires: AwareDatetime | None = Field(
        default=None, description="When it stops working (at most the configured maximum; default: that)."
    )


def tokens_json(rows: list[Any]) -> JSONResponse:
    now = datetime.now(UTC)
    return JSONResponse({"items": [service.describe(r, now) for r in rows]}, headers=NO_STORE)


@router.get("/me/tokens")
def my_tokens(ctx: ContextDep) -> JSONResponse:
    """Your access tokens, newest first (never their secrets)."""
    return tokens_json(service.list_tokens(ctx.session, ctx.caller))


@router.post("/me/tokens", status_code=status.HTTP_201_CREATED)
def create_token(ctx: ContextDep, state: StateDep, body: TokenIn) -> JSONResponse:
    """A new read-only token for QGIS, GDAL or a script: presented as the HTTP Basic password with your user
    name, it reads what you may read (the OGC API, annotations, chips, previews, exports) and writes nothing.
    The token is in this answer only: it is stored as a hash."""
    issued = service.create_token(
        ctx.session,
        ctx.caller,
        label=body.label,
        expires_at=body.expires,
        max_days=state.settings.access_token_max_days,
    )
    body_out = {"id": issued.id, "token": issued.token, "label": issued.label, "expires": issued.expires_at}
    return JSONResponse(body_out, status_code=status.HTTP_201_CREATED, headers=NO_STORE)


@router.delete("/me/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_my_token(ctx: ContextDep, token_id: uuid.UUID) -> None:
    service.revoke_token(ctx.session, ctx.caller, token_id)


@router.get("/users/{username}/tokens")
def user_tokens(ctx: ContextDep, username: str) -> JSONResponse:
    """An account's access tokens: security officers and admins."""
    return tokens_json(service.list_tokens(ctx.session, ctx.caller, username=username))


@router.delete("/users/{username}/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_user_token(ctx: ContextDep, username: str, token_id: uuid.UUID) -> None:
    """Revoke anyone's access token: security officers and admins."""
    service.revoke_token(ctx.session, ctx.caller, token_id, username=username)
