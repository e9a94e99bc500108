"""The audit trail: append-only, hash-chained by the database (see the initial migration), and every record
sealed with the audit key, which the database never holds (migration 0007): whoever owns the database can
recompute an unkeyed chain after removing or editing a record, but not the seals."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from access_control import Marking
from geo_label.db.context import Caller
from geo_label.db.models import AUDIT_LOG as AUDIT
from geo_label.db.models import AUDIT_SEALS
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
        # The chaining trigger draws the id after taking the chain's lock (migration 0004); given here, it
        # spares a round trip for a sequence value SQLAlchemy would fetch and the trigger would replace.
        "id": 0,
        "actor_id": caller.user_id if caller else None,
        "actor_name": actor_name or (caller.username if caller else None),
        "action": action,
        "item_type": item_type,
        "item_id": str(item_id) if item_id is not None else None,
        "project_id": project_id,
        "details": _with_token(caller, details or {}),
        "prev_hash": b"",
        "hash": b"",
    }
    if marking is not None:
        values.update(marking_columns(marking))
    key = session.info.get(AUDIT_KEY)
    if key is None:  # a programming error: every session of geo_label.db.engine.Database carries the key
        raise RuntimeError("audit records are sealed: open sessions through geo_label.db.engine.Database")
    session.execute(insert(AUDIT).values(**values))
    # The chaining trigger leaves the new record's id and hash in this transaction's settings.
    last = session.execute(text("SELECT current_setting('geo_label.audit_last')")).scalar_one()
    record_id, digest = last.split(":")
    session.execute(
        insert(AUDIT_SEALS).values(
            record_id=int(record_id), mac=seal(key, int(record_id), bytes.fromhex(digest))
        )
    )


def _with_token(caller: Caller | None, details: dict[str, Any]) -> dict[str, Any]:
    """An act done with a read-only access token says which (the account alone would not tell a desktop
    client's reads from its owner's)."""
    if caller is None or caller.access_token_id is None:
        return details
    return {**details, "access_token": str(caller.access_token_id)}


#: Where a session keeps the audit key (``Session.info``).
AUDIT_KEY = "audit_key"


def seal(key: bytes, record_id: int, digest: bytes) -> bytes:
    """A record's seal: HMAC-SHA256 under the audit key over its id and its chain hash (which covers every
    record before it)."""
    return hmac.new(key, f"{record_id}:".encode() + digest, hashlib.sha256).digest()


def verify_chain(session: Session, key: bytes) -> list[tuple[int, str]]:
    """Problems found in the chain and its seals, by record id, empty when intact.

    The database recomputes the unkeyed chain (an edited, removed or reordered record); the seals, checked
    here with the key, catch a chain recomputed after such a change, a record written without the service
    (no seal), and a record removed with its successors' hashes rewritten (a seal left without its record)."""
    rows = session.execute(text("SELECT record_id, problem FROM geo_label_audit_verify()")).all()
    problems = [(int(r[0]), str(r[1])) for r in rows]
    for record_id, digest, mac, sealed_id in session.execute(
        text("SELECT record_id, hash, mac, sealed_id FROM geo_label_audit_seals()")
    ):
        if record_id is None:
            problems.append((int(sealed_id), "a sealed record is missing"))
        elif mac is None:
            problems.append((int(record_id), "the record has no seal (written without the audit key)"))
        elif not hmac.compare_digest(bytes(mac), seal(key, int(record_id), bytes(digest))):
            problems.append(
                (int(record_id), "the seal does not match the record (rewritten without the key)")
            )
    return sorted(problems)


def seal_legacy(session: Session, key: bytes) -> int:
    """Seal the records written before the audit was keyed (migration 0007's ``keyed_from``), as the schema
    owner holding the key (``geo-label db upgrade``); the number sealed. Later records are never sealed here:
    one without a seal was written past the service, and verification says so."""
    rows = session.execute(
        text(
            "SELECT a.id, a.hash FROM audit_log a WHERE a.id <= (SELECT keyed_from FROM audit_keying) "
            "AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.record_id = a.id) ORDER BY a.id"
        )
    ).all()
    for record_id, digest in rows:
        session.execute(
            insert(AUDIT_SEALS).values(record_id=int(record_id), mac=seal(key, int(record_id), bytes(digest)))
        )
    return len(rows)
