"""Sign-in throttling by source, before any account is touched.

A source address (and a source with one account name) that keeps failing waits longer and longer before its
next try is even looked at: after ``free_failures`` failures within the window, each try must wait
``2 ** (failures - free_failures)`` seconds (at most ``max_delay``) after the last failure. The answer
meanwhile is 429 with Retry-After, and neither the password nor the account is checked, so a flood of guesses
from one source slows to a trickle long before it could lock many accounts.

It also keeps the audit readable under a flood: the first ``recorded_per_interval`` failures from a source in
each interval are audited one by one; the rest are counted and audited as one summary when the source's next
interval begins. Lock-outs are always audited at once.

State lives in this process's memory, bounded to ``max_sources`` entries (the oldest are forgotten first):
GeoLabel serves from one process; a restart forgets the delays, not the lock-outs, which are in the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta


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


class SourceThrottle:
    def __init__(
        self,
        *,
        free_failures: int = 10,
        window: timedelta = timedelta(minutes=15),
        max_delay: float = 300.0,
        recorded_per_interval: int = 3,
        interval: timedelta = timedelta(minutes=1),
        max_sources: int = 10_000,
    ) -> None:
        self.free_failures = free_failures
        self.window = window
        self.max_delay = max_delay
        self.recorded_per_interval = recorded_per_interval
        self.interval = interval
        self.max_sources = max_sources
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def _record(self, key: str, now: datetime) -> _Record:
        record = self._records.get(key)
        if record is None or (record.last_failure is not None and now - record.last_failure > self.window):
            record = _Record()
        self._records[key] = record
        self._records.move_to_end(key)
        while len(self._records) > self.max_sources:
            self._records.popitem(last=False)
        return record

    def _wait(self, key: str, now: datetime) -> float:
        record = self._records.get(key)
        if record is None or record.last_failure is None or record.failures < self.free_failures:
            return 0.0
        if now - record.last_failure > self.window:
            return 0.0
        delay = min(self.max_delay, 2.0 ** (record.failures - self.free_failures))
        return max(0.0, delay - (now - record.last_failure).total_seconds())

    def retry_after(self, source: str, username: str, now: datetime) -> float:
        """Seconds the source (or the source with this account name) must still wait; 0 when it may try."""
        with self._lock:
            return max(self._wait(source, now), self._wait(f"{source}\x00{username}", now))

    def failed(self, source: str, username: str, now: datetime) -> tuple[bool, Summary | None]:
        """Count a failure. Whether to audit it one by one, and the summary of the source's previous interval
        when one is due."""
        with self._lock:
            for key in (source, f"{source}\x00{username}"):
                record = self._record(key, now)
                record.failures += 1
                record.last_failure = now
            record = self._records[source]
            summary = None
            if record.interval_start is None or now - record.interval_start >= self.interval:
                if record.suppressed and record.interval_start is not None:
                    summary = Summary(
                        source,
                        record.suppressed,
                        tuple(sorted(record.suppressed_names)),
                        record.interval_start,
                    )
                record.interval_start, record.recorded, record.suppressed = now, 0, 0
                record.suppressed_names = set()
            if record.recorded < self.recorded_per_interval:
                record.recorded += 1
                return True, summary
            record.suppressed += 1
            if len(record.suppressed_names) < 20:
                record.suppressed_names.add(username)
            return False, summary

    def succeeded(self, source: str, username: str) -> None:
        with self._lock:
            self._records.pop(f"{source}\x00{username}", None)
