"""Lowering a marking below its floor: two security officers (MARKINGS.md; issue 15).

One security officer proposes, with a justification and the version they read; nothing changes. Another
security officer of the project, who can read the annotation and the marking proposed, approves (the
marking is lowered then, if the annotation is still at that version) or denies. Every step is audited; the
applied act keeps its audit name, ``annotation.downgrade``, with both officers.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from access_control import Marking, MarkingRegistry, can_read, parse_marking
from geo_label import audit
from geo_label.annotations import fetch_annotation, require_version, versioned_update
from geo_label.db.access import readable
from geo_label.db.context import Caller
from geo_label.db.models import DOWNGRADE_PROPOSALS
from geo_label.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
)
from geo_label.markings import banner_of, marking_columns, marking_of

PENDING, APPROVED, DENIED = "pending", "approved", "denied"
#: The shortest justification taken: a reason, not a placeholder.
MIN_JUSTIFICATION = 10


def _require_officer(caller: Caller) -> None:
    if not caller.is_security_officer:
        raise PermissionDeniedError("downgrading a marking needs the security officer role")


def propose_downgrade(
    session: Session,
    caller: Caller,
    annotation_id: uuid.UUID,
    *,
    marking: Marking,
    justification: str,
    if_match: int | None,
) -> Any:
    """A security officer proposes lowering the annotation's marking to ``marking``; nothing changes until
    another approves. Audited as ``annotation.downgrade.propose``."""
    _require_officer(caller)
    reason = justification.strip()
    if len(reason) < MIN_JUSTIFICATION:
        raise InvalidInputError(
            f"a downgrade needs a justification (at least {MIN_JUSTIFICATION} characters)"
        )
    expected = require_version(if_match)
    current = fetch_annotation(session, caller, annotation_id)
    if not can_read(caller.access, marking):
        raise InvalidInputError(f"marking {marking.banner()} is above your own access")
    if current["version"] != expected:
        raise PreconditionFailedError("the annotation changed since you read it; read it again and retry")
    proposal_id = uuid.uuid4()
    session.execute(
        insert(DOWNGRADE_PROPOSALS).values(
            id=proposal_id,
            annotation_id=annotation_id,
            project_id=current["project_id"],
            version=expected,
            to_marking=marking.banner(),
            justification=reason,
            proposed_by=caller.user_id,
            state=PENDING,
            **marking_columns(marking_of(current)),
        )
    )
    audit.record(
        session,
        caller,
        "annotation.downgrade.propose",
        item_type="annotation",
        item_id=annotation_id,
        project_id=current["project_id"],
        marking=marking_of(current),
        details={
            "proposal": str(proposal_id),
            "from": banner_of(current),
            "to": marking.banner(),
            "justification": reason,
        },
    )
    return get_downgrade(session, caller, proposal_id)


def list_downgrades(session: Session, caller: Caller, *, state: str | None = PENDING) -> list[Any]:
    """The proposals of the caller's projects they may read (security officers), oldest first."""
    _require_officer(caller)
    p = DOWNGRADE_PROPOSALS.c
    query = select(DOWNGRADE_PROPOSALS).where(readable(DOWNGRADE_PROPOSALS, caller))
    if state is not None:
        if state not in (PENDING, APPROVED, DENIED):
            raise InvalidInputError("state must be pending, approved or denied")
        query = query.where(p.state == state)
    return list(session.execute(query.order_by(p.proposed_at, p.id)).mappings())


def get_downgrade(session: Session, caller: Caller, proposal_id: uuid.UUID, *, lock: bool = False) -> Any:
    _require_officer(caller)
    query = select(DOWNGRADE_PROPOSALS).where(
        DOWNGRADE_PROPOSALS.c.id == proposal_id, readable(DOWNGRADE_PROPOSALS, caller)
    )
    row = session.execute(query.with_for_update() if lock else query).mappings().one_or_none()
    if row is None:
        raise NotFoundError("downgrade proposal")
    return row


def decide_downgrade(
    session: Session,
    caller: Caller,
    proposal_id: uuid.UUID,
    *,
    approve: bool,
    registry: MarkingRegistry,
    comment: str = "",
) -> Any:
    """Another security officer approves (the marking is lowered, if the annotation is still at the version
    proposed against) or denies; the proposal, decided."""
    proposal = get_downgrade(session, caller, proposal_id, lock=True)
    if proposal["proposed_by"] == caller.user_id:
        raise PermissionDeniedError("no one approves their own downgrade: another security officer must")
    if proposal["state"] != PENDING:
        raise ConflictError(f"the downgrade proposal is already {proposal['state']}")
    annotation_id = proposal["annotation_id"]
    current = fetch_annotation(session, caller, annotation_id)
    target = parse_marking(proposal["to_marking"], registry)
    if approve:
        if not can_read(caller.access, target):
            raise InvalidInputError(f"marking {target.banner()} is above your own access")
        versioned_update(
            session,
            caller,
            annotation_id,
            int(proposal["version"]),
            {**marking_columns(target), "marked_by": caller.user_id, "marked_at": func.now()},
        )
    session.execute(
        update(DOWNGRADE_PROPOSALS)
        .where(DOWNGRADE_PROPOSALS.c.id == proposal_id)
        .values(
            state=APPROVED if approve else DENIED,
            decided_by=caller.user_id,
            decided_at=func.now(),
            comment=comment.strip(),
        )
    )
    audit.record(
        session,
        caller,
        "annotation.downgrade" if approve else "annotation.downgrade.deny",
        item_type="annotation",
        item_id=annotation_id,
        project_id=current["project_id"],
        marking=marking_of(current),
        details={
            "from": banner_of(current),
            "to": target.banner(),
            "justification": proposal["justification"],
            "proposal": str(proposal_id),
            "proposed_by": str(proposal["proposed_by"]),
            **({"comment": comment.strip()} if comment.strip() else {}),
        },
    )
    return get_downgrade(session, caller, proposal_id)
