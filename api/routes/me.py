"""The signed-in user's own account."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ContextDep
from geo_label.users import describe

router = APIRouter(tags=["me"])


@router.get("/me")
def me(ctx: ContextDep) -> dict[str, Any]:
    caller = ctx.caller
    return {
        "id": caller.user_id,
        "username": caller.username,
        "clearance": describe(caller.access),
        "citizenship": caller.access.citizenship,
        "cui_ok": caller.access.cui_ok,
        "clearance_expires": caller.access.clearance_expires,
        "roles": sorted(caller.roles),
        "projects": dict(caller.project_roles),
    }
