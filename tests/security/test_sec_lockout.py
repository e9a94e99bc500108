"""Lock-out after repeated failed logins: pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geo_label.security.lockout import UNLOCKED, LoginState, after_failure, after_success, is_locked

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MAX, MINUTES = 3, 15


def fail(state: LoginState, now: datetime = NOW) -> LoginState:
    return after_failure(state, now=now, max_attempts=MAX, lock_minutes=MINUTES)


def test_locks_after_max_attempts() -> None:
    state = UNLOCKED
    for attempt in range(1, MAX):
        state = fail(state)
        assert state == LoginState(failed_attempts=attempt, locked_until=None, last_failure=NOW)
        assert not is_locked(state, NOW)
    state = fail(state)
    assert state == LoginState(MAX, NOW + timedelta(minutes=MINUTES), NOW)
    assert is_locked(state, NOW)


def test_one_attempt_policy_locks_at_once() -> None:
    state = after_failure(UNLOCKED, now=NOW, max_attempts=1, lock_minutes=1)
    assert is_locked(state, NOW + timedelta(seconds=59))


def test_lock_expires_by_itself() -> None:
    state = fail(fail(fail(UNLOCKED)))
    assert is_locked(state, NOW + timedelta(minutes=MINUTES) - timedelta(microseconds=1))
    assert not is_locked(state, NOW + timedelta(minutes=MINUTES))


def test_failures_while_locked_do_not_extend_the_lock() -> None:
    locked = fail(fail(fail(UNLOCKED)))
    assert fail(locked, NOW + timedelta(minutes=5)) == locked


def test_after_an_expired_lock_the_count_starts_again() -> None:
    later = NOW + timedelta(minutes=MINUTES, seconds=1)
    locked = fail(fail(fail(UNLOCKED)))
    state = fail(locked, later)
    assert state == LoginState(failed_attempts=1, locked_until=None, last_failure=later)
    state = fail(fail(state, later), later)
    assert is_locked(state, later)
    assert state.locked_until == later + timedelta(minutes=MINUTES)


def test_success_resets() -> None:
    assert after_success(fail(fail(UNLOCKED))) == UNLOCKED
    expired = fail(fail(fail(UNLOCKED)))
    assert after_success(expired) == LoginState(failed_attempts=0, locked_until=None)
    # After a success, a full run of failures is needed again.
    assert not is_locked(fail(fail(after_success(fail(fail(UNLOCKED))))), NOW)


def test_state_is_immutable() -> None:
    with pytest.raises(AttributeError):
        UNLOCKED.failed_attempts = 3  # type: ignore[misc]


def test_failures_count_only_within_the_window() -> None:
    """The application STIG: 3 consecutive failures within 15 minutes lock; slower ones never do."""

    def fail_at(state: LoginState, minutes: float) -> LoginState:
        moment = NOW + timedelta(minutes=minutes)
        return after_failure(state, now=moment, max_attempts=3, lock_minutes=15, window_minutes=15)

    slow = fail_at(fail_at(fail_at(UNLOCKED, 0), 16), 32)
    assert slow.failed_attempts == 1 and not is_locked(slow, NOW + timedelta(minutes=32))
    fast = fail_at(fail_at(fail_at(UNLOCKED, 0), 14), 28)
    assert is_locked(fast, NOW + timedelta(minutes=28))


@pytest.mark.parametrize(("max_attempts", "lock_minutes"), [(0, 15), (5, 0)])
def test_bad_limits_are_programming_errors(max_attempts: int, lock_minutes: int) -> None:
    with pytest.raises(ValueError):
        after_failure(UNLOCKED, now=NOW, max_attempts=max_attempts, lock_minutes=lock_minutes)
