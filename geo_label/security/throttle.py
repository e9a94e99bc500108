"""Sign-in throttling by source, before any account is touched.

A source address (and a source with one account name) that keeps failing waits longer and longer before its
next try is even looked at: after ``free_failures`` failures within the window, each try must wait
``2 ** (failures - free_failures)`` seconds (at most ``max_delay``) after the last failure. The answer
meanwhile is 429 with Retry-After, and neither the password nor the account is checked, so a flood of guesses
from one source slows to a trickle long before it could lock many accounts.

It also keeps the audit readable under a flood: the first ``recorded_per_interval`` failures from a source in
each interval are audited one by one; the rest are counted and audited as one summary when the source's next
interval begins. Lock-outs are always audited at once.

The counts are rows of ``signin_throttle`` (migration 0011), so every process and every host serving from
the database sees the same ones (issue 21); a failure is counted under a row lock in the transaction that
records it. Rows of sources quiet for longer than the window are removed as failures come in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from geo_label.db.models import SIGNIN_THROTTLE as THROTTLE

#: Account names a summary lists at most.
SUMMARY_NAMES = 20


@dataclass
class _Record:
    failures: int = 0
    last_failure: datetime | None = None
    interval_start: datetime | None = None
    recorded: int = 0
    suppressed: int = 0
    suppressed_names: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Summary:
    """Failures from one source that were counted, not audited one by one."""

    source: str
    failures: int
    usernames: tuple[str, ...]
    since: datetime


def _pair(source: str, username: str) -> str:
    """The key of a source with an account name (a source address has no space: the first one splits)."""
    return f"{source} {username}"


@dataclass(frozen=True)
class SourceThrottle:
    """The rules; the counts are in the database (every method takes the caller's session)."""

    free_failures: int = 10
    window: timedelta = timedelta(minutes=15)
    max_delay: float = 300.0
    recorded_per_interval: int = 3
    interval: timedelta = timedelta(minutes=1)

    def _wait(self, record: _Record | None, now: datetime) -> float:
        if record is None or record.last_failure is None or record.failures < self.free_failures:
            return 0.0
        if now - record.last_failure > self.window:
            return 0.0
        delay = min(self.max_delay, 2.0 ** (record.failures - self.free_failures))
        return max(0.0, delay - (now - record.last_failure).total_seconds())

    def retry_after(self, session: Session, source: str, username: str, now: datetime) -> float:
        """Seconds the source (or the source with this account name) must still wait; 0 when it may try."""
        records = _load(session, [source, _pair(source, username)], lock=False)
        return max((self._wait(record, now) for record in records.values()), default=0.0)

    def failed(
        self, session: Session, source: str, username: str, now: datetime
    ) -> tuple[bool, Summary | None]:
        """Count a failure (under row locks, in the session's transaction). Whether to audit it one by one,
        and the summary of the source's previous interval when one is due."""
        session.execute(delete(THROTTLE).where(THROTTLE.c.last_failure < now - self.window))
        keys = sorted([source, _pair(source, username)])  # one lock order for every process
        session.execute(insert(THROTTLE).values([{"key": key} for key in keys]).on_conflict_do_nothing())
        records = _load(session, keys, lock=True)
        for key in keys:
            record = records[key]
            if record.last_failure is not None and now - record.last_failure > self.window:
                record = records[key] = _Record()
            record.failures += 1
            record.last_failure = now
        record = records[source]
        summary = None
        if record.interval_start is None or now - record.interval_start >= self.interval:
            if record.suppressed and record.interval_start is not None:
                names = tuple(sorted(record.suppressed_names))
                summary = Summary(source, record.suppressed, names, record.interval_start)
            record.interval_start, record.recorded, record.suppressed = now, 0, 0
            record.suppressed_names = set()
        one_by_one = record.recorded < self.recorded_per_interval
        if one_by_one:
            record.recorded += 1
        else:
            record.suppressed += 1
            if len(record.suppressed_names) < SUMMARY_NAMES:
                record.suppressed_names.add(username)
        _store(session, records)
        return one_by_one, summary

    def succeeded(self, session: Session, source: str, username: str) -> None:
        """A sign-in from the source with this account name succeeded: forget that pair (not the source)."""
        session.execute(delete(THROTTLE).where(THROTTLE.c.key == _pair(source, username)))


def _load(session: Session, keys: list[str], *, lock: bool) -> dict[str, _Record]:
    query = select(THROTTLE).where(THROTTLE.c.key.in_(keys))
    if lock:
        query = query.with_for_update()
    return {
        row.key: _Record(
            row.failures,
            row.last_failure,
            row.interval_start,
            row.recorded,
            row.suppressed,
            set(row.suppressed_names),
        )
        for row in session.execute(query)
    }


def _store(session: Session, records: dict[str, _Record]) -> None:
    for key, record in records.items():
        session.execute(
            THROTTLE.update()
            .where(THROTTLE.c.key == key)
            .values(
                failures=record.failures,
                last_failure=record.last_failure,
                interval_start=record.interval_start,
                recorded=record.recorded,
                suppressed=record.suppressed,
                suppressed_names=sorted(record.suppressed_names),
            )
        )
