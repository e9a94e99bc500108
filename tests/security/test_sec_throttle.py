"""Sign-in throttling by source: delays that grow, per source and per source and account, and failures
audited one by one only up to a few a minute (a flood becomes one summary). The counts are rows every process
shares (issue 21); each test uses sources of its own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_label.security.throttle import SourceThrottle
from tests.pg import TestDatabase

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
Run = Callable[[Callable[[Session], Any]], Any]


@pytest.fixture
def run(test_db: TestDatabase) -> Run:
    """Each call in a transaction of its own, as each sign-in is."""

    def in_transaction(work: Callable[[Session], Any]) -> Any:
        with test_db.database.sessions() as session, session.begin():
            return work(session)

    return in_transaction


@pytest.fixture
def source() -> Iterator[str]:
    yield f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def test_a_failing_source_waits_longer_and_longer(run: Run, source: str) -> None:
    throttle = SourceThrottle(free_failures=5)
    for i in range(5):
        assert run(lambda s, i=i: throttle.retry_after(s, source, f"user{i}", NOW)) == 0
        run(lambda s, i=i: throttle.failed(s, source, f"user{i}", NOW))
    assert run(lambda s: throttle.retry_after(s, source, "anyone", NOW)) == 1.0
    run(lambda s: throttle.failed(s, source, "anyone", NOW))
    assert run(lambda s: throttle.retry_after(s, source, "anyone", NOW)) == 2.0
    assert run(lambda s: throttle.retry_after(s, source, "anyone", NOW + timedelta(seconds=2))) == 0
    assert run(lambda s: throttle.retry_after(s, source + "9", "anyone", NOW)) == 0, "another source"


def test_delays_are_capped_and_forgotten_after_the_window(run: Run, source: str) -> None:
    throttle = SourceThrottle(free_failures=1, max_delay=30)
    for _ in range(20):
        run(lambda s: throttle.failed(s, source, "u", NOW))
    assert run(lambda s: throttle.retry_after(s, source, "u", NOW)) == 30
    assert run(lambda s: throttle.retry_after(s, source, "u", NOW + timedelta(minutes=16))) == 0


def test_a_success_clears_the_source_and_account_but_not_the_source(run: Run, source: str) -> None:
    throttle = SourceThrottle(free_failures=2)
    for _ in range(3):
        run(lambda s: throttle.failed(s, source, "alice", NOW))
    run(lambda s: throttle.succeeded(s, source, "alice"))
    assert run(lambda s: throttle.retry_after(s, source, "bob", NOW)) > 0, "the source's own record stays"


def test_a_flood_is_audited_as_a_few_records_and_one_summary(run: Run, source: str) -> None:
    throttle = SourceThrottle(recorded_per_interval=3)
    audited = [
        run(lambda s, i=i: throttle.failed(s, source, f"name{i}", NOW + timedelta(seconds=i))[0])
        for i in range(50)
    ]
    assert audited.count(True) == 3
    recorded, summary = run(lambda s: throttle.failed(s, source, "late", NOW + timedelta(minutes=2)))
    assert recorded and summary is not None
    assert summary.failures == 47 and len(summary.usernames) == 20 and summary.source == source


def test_quiet_sources_are_forgotten(run: Run, source: str) -> None:
    throttle = SourceThrottle()
    for i in range(30):
        run(lambda s, i=i: throttle.failed(s, f"{source}.{i}", "u", NOW))
    later = NOW + throttle.window + timedelta(seconds=1)
    run(lambda s: throttle.failed(s, source, "u", later))
    left = run(
        lambda s: s.execute(
            text("SELECT count(*) FROM signin_throttle WHERE key LIKE :prefix"), {"prefix": f"{source}.%"}
        ).scalar_one()
    )
    assert left == 0


def test_two_processes_count_the_same_failures(test_db: TestDatabase, source: str) -> None:
    """Two services over one database (each its own engine): the second sees the first's failures."""
    from geo_label.db.engine import Database

    other = Database.connect(test_db.owner_url, audit_key=test_db.database.audit_key, pool_size=1)
    try:
        throttle = SourceThrottle(free_failures=2)
        for database in (test_db.database, other, test_db.database):
            with database.sessions() as session, session.begin():
                throttle.failed(session, source, "u", NOW)
        with other.sessions() as session, session.begin():
            assert throttle.retry_after(session, source, "u", NOW) == 2.0
    finally:
        other.dispose()
