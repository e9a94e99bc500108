"""Local access tokens: short-lived HS256 JWTs signed with the deployment's key.

A token only says who the caller is (``sub``) until when; the user's clearance, roles and memberships are read
from the database on every request (MARKINGS.md section 2), so revoking them takes effect at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import jwt

from geo_label.errors import AuthenticationError
from geo_label.security._claims import aware_now, check_times
from geo_label.security.keys import load_or_create_key
from geo_label.settings import MIN_SIGNING_KEY_BYTES, Settings

ISSUER: Final = "geo-label"
TOKEN_TYPE: Final = "access"
ALGORITHM: Final = "HS256"
#: Clock tolerance for exp/nbf/iat; issuer and verifier are the same deployment.
LEEWAY_SECONDS: Final = 5
KEY_FILE_NAME: Final = "token-signing.key"

_REQUIRED_CLAIMS: Final = ["sub", "sid", "iat", "nbf", "exp", "jti", "iss", "typ"]
_INVALID: Final = "invalid or expired token"


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    expires_at: datetime
    token_id: str


def _check_key(signing_key: bytes) -> None:
    if len(signing_key) < MIN_SIGNING_KEY_BYTES:
        raise ValueError(f"the token signing key must be at least {MIN_SIGNING_KEY_BYTES} bytes")


def issue_access_token(
    *, user_id: str, session_id: str, signing_key: bytes, minutes: float, now: datetime | None = None
) -> tuple[str, datetime]:
    """A signed access token for ``user_id`` in the sign-in session ``session_id``, and its expiry (UTC,
    whole seconds)."""
    _check_key(signing_key)
    if not user_id or not session_id:
        raise ValueError("user_id and session_id must not be empty")
    if minutes * 60 < 1:
        raise ValueError("a token lives at least one second")
    issued = aware_now(now).astimezone(UTC).replace(microsecond=0)
    expires = issued + timedelta(seconds=round(minutes * 60))
    claims = {
        "sub": user_id,
        "sid": session_id,
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": uuid.uuid4().hex,
        "iss": ISSUER,
        "typ": TOKEN_TYPE,
    }
    return jwt.encode(claims, signing_key, algorithm=ALGORITHM), expires


def decode_access_token(
    token: str, *, signing_key: bytes, now: datetime | None = None, allow_expired: bool = False
) -> AccessClaims:
    """The claims of a valid access token; AuthenticationError for anything wrong, whatever it is.

    ``allow_expired`` accepts a token past its expiry (and nothing else wrong): renewing one is bound by its
    session's life, which the caller checks."""
    _check_key(signing_key)
    current = aware_now(now)
    try:
        claims = jwt.decode(
            token,
            signing_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            # Times are checked below against ``now`` (PyJWT only knows the wall clock).
            options={
                "require": _REQUIRED_CLAIMS,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError:
        raise AuthenticationError(_INVALID) from None
    subject, token_id, session_id = claims.get("sub"), claims.get("jti"), claims.get("sid")
    checked_at = current
    if allow_expired and isinstance(claims.get("exp"), int | float):
        try:
            checked_at = min(current, datetime.fromtimestamp(float(claims["exp"]) - 1, UTC))
        except (OverflowError, OSError, ValueError):
            raise AuthenticationError(_INVALID) from None
    expires = check_times(claims, checked_at, leeway=LEEWAY_SECONDS)
    if (
        claims.get("typ") != TOKEN_TYPE
        or not isinstance(subject, str)
        or not subject
        or not isinstance(token_id, str)
        or not token_id
        or not isinstance(session_id, str)
        or not session_id
        or expires is None
    ):
        raise AuthenticationError(_INVALID)
    return AccessClaims(user_id=subject, session_id=session_id, expires_at=expires, token_id=token_id)


def load_or_create_signing_key(settings: Settings) -> bytes:
    """The HMAC key for access tokens: ``settings.token_signing_key`` (UTF-8 bytes) when set, else the key
    file ``data_dir/token-signing.key`` (see :func:`geo_label.security.keys.load_or_create_key`)."""
    if settings.token_signing_key is not None:
        return settings.token_signing_key.get_secret_value().encode("utf-8")
    return load_or_create_key(
        settings.data_dir / KEY_FILE_NAME, what="the token signing key", setting="GEO_LABEL_TOKEN_SIGNING_KEY"
    )
