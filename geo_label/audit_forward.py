"""Audit records as JSON lines for a log collector (a SIEM): to a syslog socket (RFC 5424) or to a file that
rotates, and for a period on demand (`geo-label audit export`).

The database is the record of truth: a record that cannot be written there stops the act it records (see
:mod:`geo_label.audit`). Forwarding reads the committed records in id order after the target's cursor
(table ``audit_forwarding``), sends them, and moves the cursor only once the target took them, in the same
transaction that holds the forwarding lock: a target that is down loses nothing and gets every record when it
is back, in order (a record may be sent twice after a crash between the send and the commit; its ``id``
tells a collector so). One forwarder at a time across every process and host (an advisory lock).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo_label.db.models import AUDIT_LOG
from geo_label.markings import banner_of

log = logging.getLogger(__name__)

#: The advisory lock one forwarder holds while it forwards (any 64-bit number of GeoLabel's own).
FORWARD_LOCK = 0x6765_6F6C_6162_01
BATCH = 1000
#: RFC 5424: facility 13 (log audit), severity 6 (informational).
PRIORITY = 13 * 8 + 6
APP_NAME = "geo-label"


def record_json(row: Any) -> bytes:
    """One audit record as a JSON object (one line): what it says, its marking and its place in the chain."""
    return orjson.dumps(
        {
            "id": row["id"],
            "at": row["at"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "actor_id": str(row["actor_id"]) if row["actor_id"] else None,
            "actor": row["actor_name"],
            "action": row["action"],
            "item_type": row["item_type"],
            "item_id": row["item_id"],
            "project_id": str(row["project_id"]) if row["project_id"] else None,
            "marking": banner_of(row),
            "details": row["details"],
            "prev_hash": bytes(row["prev_hash"]).hex(),
            "hash": bytes(row["hash"]).hex(),
        }
    )


def records(
    session: Session,
    *,
    after_id: int = 0,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> Iterator[tuple[int, bytes]]:
    """Audit records in id order as (id, JSON line), the session's caller's readable ones (row-level
    security: a security officer's, or the operator's, which are all)."""
    a = AUDIT_LOG.c
    query = select(AUDIT_LOG).where(a.id > after_id).order_by(a.id)
    if since is not None:
        query = query.where(a.at >= since)
    if until is not None:
        query = query.where(a.at < until)
    if limit is not None:
        query = query.limit(limit)
    for row in session.execute(query.execution_options(yield_per=BATCH)).mappings():
        yield int(row["id"]), record_json(row)


class Target(Protocol):
    """Where forwarded lines go; ``send`` returns only once every line was taken (else raises OSError)."""

    name: str

    def send(self, lines: Sequence[bytes]) -> None: ...


class FileTarget:
    """JSON lines appended to a file, synced before the cursor moves; rotated at ``max_bytes`` (the file
    renamed to ``.1``, the older ones shifted, ``keep`` of them kept)."""

    def __init__(self, path: Path, *, max_bytes: int = 64 << 20, keep: int = 5) -> None:
        self.path, self.max_bytes, self.keep = path, max_bytes, keep
        self.name = f"file:{path}"

    def send(self, lines: Sequence[bytes]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size >= self.max_bytes:
            self._rotate()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(descriptor, b"".join(line + b"\n" for line in lines))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def _rotate(self) -> None:
        for n in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))


class SyslogTarget:
    """RFC 5424 messages, one per record, to a local syslog socket (a Unix datagram socket such as
    /dev/log, which rsyslog or journald forward on); the JSON line is the message."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.name = f"syslog:{address}"
        self.host = socket.gethostname()[:255] or "-"

    def send(self, lines: Sequence[bytes]) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(self.address)
            for line in lines:
                stamp = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
                header = f"<{PRIORITY}>1 {stamp} {self.host} {APP_NAME} {os.getpid()} audit - "
                sock.send(header.encode() + line)


def target_of(spec: str) -> Target:
    """``syslog:/dev/log`` or ``file:/var/log/geo-label/audit.jsonl``."""
    kind, _, where = spec.partition(":")
    if kind == "syslog" and where:
        return SyslogTarget(where)
    if kind == "file" and where:
        return FileTarget(Path(where))
    raise ValueError(f"audit forwarding target must be syslog:PATH or file:PATH, not {spec[:60]!r}")


def forward_once(session: Session, target: Target, *, batch: int = BATCH) -> int:
    """Send the records the target has not had yet (as many batches as there are), moving its cursor after
    each; the number sent. 0 when another forwarder holds the lock. The caller commits."""
    if not session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": FORWARD_LOCK}).scalar_one():
        return 0
    session.execute(
        text("INSERT INTO audit_forwarding (target) VALUES (:t) ON CONFLICT (target) DO NOTHING"),
        {"t": target.name},
    )
    last = int(
        session.execute(
            text("SELECT last_id FROM audit_forwarding WHERE target = :t FOR UPDATE"), {"t": target.name}
        ).scalar_one()
    )
    sent = 0
    while True:
        rows = list(records(session, after_id=last, limit=batch))
        if not rows:
            return sent
        target.send([line for _, line in rows])  # raises while the target is down: the cursor stays
        last = rows[-1][0]
        session.execute(
            text("UPDATE audit_forwarding SET last_id = :id, updated_at = now() WHERE target = :t"),
            {"id": last, "t": target.name},
        )
        sent += len(rows)


class Forwarder:
    """Forwards every ``seconds`` in a daemon thread of a serving process, until stopped."""

    def __init__(self, run_once: Any, seconds: float) -> None:
        self.run_once, self.seconds = run_once, seconds
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="geo-label-audit-forward", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=self.seconds + 5)

    def _loop(self) -> None:
        while not self.stopped.wait(self.seconds):
            try:
                self.run_once()
            except Exception as exc:  # a target down or the database away: retried next time, nothing lost
                log.warning("audit forwarding failed (retried in %.0f s): %s", self.seconds, exc)
