"""The audit trail, for security officers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from api.deps import ContextDep, StateDep
from geo_label import audit as service
from geo_label.db.access import marking_readable
from geo_label.db.models import AUDIT_LOG
from geo_label.markings import banner_of
from geo_label.users import require

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("")
def list_records(
    ctx: ContextDep,
    action: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Newest first. Row-level security shows a security officer only records whose marking they may read."""
    require(ctx.caller, "security_officer")
    query = select(AUDIT_LOG).where(marking_readable(AUDIT_LOG, ctx.caller))
    if action:
        query = query.where(AUDIT_LOG.c.action == action)
    total = ctx.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = ctx.session.execute(query.order_by(AUDIT_LOG.c.id.desc()).limit(limit).offset(offset)).mappings()
    items = [
        {
            "id": r["id"],
            "at": r["at"],
            "actor_id": r["actor_id"],
            "actor": r["actor_name"],
            "action": r["action"],
            "item_type": r["item_type"],
            "item_id": r["item_id"],
            "project_id": r["project_id"],
            "marking": banner_of(r),
            "details": r["details"],
            "hash": r["hash"].hex(),
        }
        for r in rows
    ]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/verify")
def verify(ctx: ContextDep, state: StateDep) -> dict[str, Any]:
    """Recompute the whole hash chain (all records, whatever their marking; only ids and problems return)."""
    require(ctx.caller, "security_officer")
    problems = service.verify_chain(ctx.session, state.database.audit_key)
    return {"intact": not problems, "problems": [{"record_id": i, "problem": p} for i, p in problems]}
