"""Time checks shared by the local and the OIDC token verifiers, against an injectable ``now``."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any


def aware_now(now: datetime | None) -> datetime:
    """``now``, or the current UTC time; a naive datetime is a programming error."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now


def numeric_date(value: Any) -> float | None:
    """A JWT NumericDate (RFC 7519 section 2) as seconds, or None for anything else (bool, string, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) else None


def check_times(claims: dict[str, Any], now: datetime, *, leeway: float) -> datetime | None:
    """The expiry (UTC) of a token whose exp and iat (and nbf when present) hold at ``now``, else None.

    Valid when ``exp > now - leeway``, ``iat <= now + leeway`` and ``nbf <= now + leeway``.
    """
    exp, iat = numeric_date(claims.get("exp")), numeric_date(claims.get("iat"))
    nbf = numeric_date(claims["nbf"]) if "nbf" in claims else -math.inf
    if exp is None or iat is None or nbf is None:
        return None
    current = now.timestamp()
    if exp <= current - leeway or nbf > current + leeway or iat > current + leeway:
        return None
    try:
        return datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        return None
