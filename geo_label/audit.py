"""The audit trail: append-only, hash-chained by the database (see the initial migration)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from access_control import Marking
from geo_label.db.context import Caller
from geo_label.db.models import AUDIT_LOG as AUDIT
from geo_label.markings import marking_columns


def record(
    session: Session,
    caller: Caller | None,
    action: str,
    *,
    item_type: str | None = None,
    item_id: str | uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    marking: Marking | None = None,
    details: dict[str, Any] | None = None,
    actor_name: str | None = None,
) -> None:
    """Append one record in the caller's transaction: it commits or rolls back with the act it records.
    (Failed logins are recorded in a transaction of their own by the auth service.)"""
    values: dict[str, Any] = {
        "actor_id": caller.user_id if caller else None,
        "actor_name": actor_name or (caller.username if caller else None),
        "action": action,
        "item_type": item_type,
        "item_id": str(item_id) if item_id is not None else None,
        "project_id": project_id,
        "details": details or {},
        "prev_hash": b"",
        "hash": b"",
    }
    if marking is not None:
        values.update(marking_columns(marking))
    session.execute(insert(AUDIT).values(**values))


def verify_chain(session: Session) -> list[tuple[int, str]]:
    """Problems found in the chain, empty when intact. Needs the schema owner's connection."""
    rows = session.execute(text("SELECT record_id, problem FROM geo_label_audit_verify()")).all()
    return [(int(r[0]), str(r[1])) for r in rows]
