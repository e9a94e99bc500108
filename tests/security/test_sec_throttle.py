"""Sign-in throttling by source: delays that grow, per source and per source and account, and failures
audited one by one only up to a few a minute (a flood becomes one summary)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from geo_label.security.throttle import SourceThrottle

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_a_failing_source_waits_longer_and_longer() -> None:
    throttle = SourceThrottle(free_failures=5)
    for i in range(5):
        assert throttle.retry_after("10.0.0.9", f"user{i}", NOW) == 0
        throttle.failed("10.0.0.9", f"user{i}", NOW)
    assert throttle.retry_after("10.0.0.9", "anyone", NOW) == 1.0
    throttle.failed("10.0.0.9", "anyone", NOW)
    assert throttle.retry_after("10.0.0.9", "anyone", NOW) == 2.0
    assert throttle.retry_after("10.0.0.9", "anyone", NOW + timedelta(seconds=2)) == 0
    assert throttle.retry_after("10.0.0.10", "anyone", NOW) == 0, "another source is not slowed"


def test_delays_are_capped_and_forgotten_after_the_window() -> None:
    throttle = SourceThrottle(free_failures=1, max_delay=30)
    for _ in range(20):
        throttle.failed("s", "u", NOW)
    assert throttle.retry_after("s", "u", NOW) == 30
    assert throttle.retry_after("s", "u", NOW + timedelta(minutes=16)) == 0


def test_a_success_clears_the_source_and_account_but_not_the_source() -> None:
    throttle = SourceThrottle(free_failures=2)
    for _ in range(3):
        throttle.failed("s", "alice", NOW)
    throttle.succeeded("s", "alice")
    assert throttle.retry_after("s", "bob", NOW) > 0, "the source's own record stays"


def test_a_flood_is_audited_as_a_few_records_and_one_summary() -> None:
    throttle = SourceThrottle(recorded_per_interval=3)
    audited = [throttle.failed("s", f"name{i}", NOW + timedelta(seconds=i))[0] for i in range(50)]
    assert audited.count(True) == 3
    recorded, summary = throttle.failed("s", "late", NOW + timedelta(minutes=2))
    assert recorded and summary is not None
    assert summary.failures == 47 and len(summary.usernames) == 20 and summary.source == "s"


def test_memory_is_bounded() -> None:
    throttle = SourceThrottle(max_sources=100)
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}", "u", NOW)
    assert len(throttle._records) <= 100
