"""Account lock-out after repeated failed logins: pure rules over a small state the service stores per user.

``max_attempts`` failures in a row lock the account for ``lock_minutes``; the lock expires by itself and the
next failure after it starts a new count. While locked, the service refuses the login without checking the
password, and failures change nothing (the lock is not extended). A success resets everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LoginState:
    failed_attempts: int = 0
    locked_until: datetime | None = None


UNLOCKED = LoginState()


def is_locked(state: LoginState, now: datetime) -> bool:
    return state.locked_until is not None and now < state.locked_until


def after_failure(state: LoginState, *, now: datetime, max_attempts: int, lock_minutes: int) -> LoginState:
    """The state after one more failed login at ``now``."""
    if max_attempts < 1 or lock_minutes < 1:
        raise ValueError("max_attempts and lock_minutes must be at least 1")
    if is_locked(state, now):
        return state
    previous = 0 if state.locked_until is not None else state.failed_attempts  # an expired lock: count anew
    failures = previous + 1
    if failures >= max_attempts:
        return LoginState(failed_attempts=failures, locked_until=now + timedelta(minutes=lock_minutes))
    return LoginState(failed_attempts=failures, locked_until=None)


def after_success(state: LoginState) -> LoginState:
    """The state after a successful login: no failures, no lock."""
    return UNLOCKED
