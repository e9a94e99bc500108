"""Downgrade proposals (issue 15): a security officer proposes lowering a marking below its floor
(``POST /annotations/{id}/downgrade``), another approves or denies it here."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import ContextDep
from api.schemas import DowngradeDecisionIn, DowngradeOut
from geo_label import downgrades
from geo_label.markings import banner_of

router = APIRouter(prefix="/downgrades", tags=["annotations"])


def downgrade_out(row: Any) -> DowngradeOut:
    return DowngradeOut(
        id=row["id"],
        annotation_id=row["annotation_id"],
        project_id=row["project_id"],
        version=row["version"],
        marking=banner_of(row),
        to_marking=row["to_marking"],
        justification=row["justification"],
        proposed_by=row["proposed_by"],
        proposed_at=row["proposed_at"],
        state=row["state"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        comment=row["comment"],
    )


@router.get("", response_model=list[DowngradeOut])
def list_downgrades(
    ctx: ContextDep,
    state: Annotated[str | None, Query(description="pending (default), approved or denied")] = "pending",
) -> list[DowngradeOut]:
    """Proposals in your projects that you may read (security officers)."""
    return [downgrade_out(r) for r in downgrades.list_downgrades(ctx.session, ctx.caller, state=state)]


@router.get("/{proposal_id}", response_model=DowngradeOut)
def one_downgrade(ctx: ContextDep, proposal_id: uuid.UUID) -> DowngradeOut:
    return downgrade_out(downgrades.get_downgrade(ctx.session, ctx.caller, proposal_id))


@router.post("/{proposal_id}/approve", response_model=DowngradeOut)
def approve(ctx: ContextDep, proposal_id: uuid.UUID, body: DowngradeDecisionIn | None = None) -> DowngradeOut:
    """Another security officer approves: the marking is lowered now (if the annotation is unchanged)."""
    row = downgrades.decide_downgrade(
        ctx.session,
        ctx.caller,
        proposal_id,
        approve=True,
        registry=ctx.registry,
        comment=body.comment if body else "",
    )
    return downgrade_out(row)


@router.post("/{proposal_id}/deny", response_model=DowngradeOut)
def deny(ctx: ContextDep, proposal_id: uuid.UUID, body: DowngradeDecisionIn | None = None) -> DowngradeOut:
    """Another security officer denies: the marking stays."""
    row = downgrades.decide_downgrade(
        ctx.session,
        ctx.caller,
        proposal_id,
        approve=False,
        registry=ctx.registry,
        comment=body.comment if body else "",
    )
    return downgrade_out(row)
