"""Account lock-out after repeated failed logins: pure rules over a small state the service stores per user.

``max_attempts`` failures in a row, each within ``window_minutes`` of the one before (the application STIG:
3 within 15 minutes), lock the account for ``lock_minutes``; the lock expires by itself (or an officer
lifts it) and the next failure after it starts a new count. While locked, the service refuses the login
without checking the password, and failures change nothing (the lock is not extended). A success resets
everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LoginState:
    failed_attempts: int = 0
    locked_until: datetime | None = None
    last_failure: datetime | None = None


UNLOCKED = LoginState()


def is_locked(state: LoginState, now: datetime) -> bool:
    return state.locked_until is not None and now < state.locked_until


def after_failure(
    state: LoginState,
    *,
    now: datetime,
    max_attempts: int,
    lock_minutes: float,
    window_minutes: float | None = None,
) -> LoginState:
    """The state after one more failed login at ``now``."""
    if max_attempts < 1 or lock_minutes <= 0:
        raise ValueError("max_attempts must be at least 1 and lock_minutes positive")
    if is_locked(state, now):
        return state
    stale = (
        window_minutes is not None
        and state.last_failure is not None
        and now - state.last_failure > timedelta(minutes=window_minutes)
    )
    # An expired lock, or a last failure outside the window: count anew.
    previous = 0 if state.locked_until is not None or stale else state.failed_attempts
    failures = previous + 1
    if failures >= max_attempts:
        return LoginState(failures, now + timedelta(minutes=lock_minutes), now)
    return LoginState(failed_attempts=failures, locked_until=None, last_failure=now)


def after_success(state: LoginState) -> LoginState:
    """The state after a successful login: no failures, no lock."""
    return UNLOCKED
