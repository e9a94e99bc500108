"""Local access tokens (HS256, real PyJWT) and the signing key file."""

from __future__ import annotations

import base64
import os
import secrets
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from pydantic import SecretStr

from geo_label.errors import AuthenticationError
from geo_label.security.errors import SecurityConfigError
from geo_label.security.tokens import (
    AccessClaims,
    decode_access_token,
    issue_access_token,
    load_or_create_signing_key,
)
from geo_label.settings import Settings

KEY = secrets.token_bytes(32)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sub": "user-1",
        "iat": int(NOW.timestamp()),
        "nbf": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(minutes=15)).timestamp()),
        "jti": "0" * 32,
        "iss": "geo-label",
        "typ": "access",
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def rejected(token: str, *, now: datetime = NOW, key: bytes = KEY) -> bool:
    with pytest.raises(AuthenticationError) as caught:
        decode_access_token(token, signing_key=key, now=now)
    assert caught.value.detail == "invalid or expired token"  # never says which check failed
    return True


def test_round_trip() -> None:
    token, expires = issue_access_token(
        user_id="user-1", session_id="s-1", signing_key=KEY, minutes=15, now=NOW
    )
    assert expires == NOW + timedelta(minutes=15)
    decoded = decode_access_token(token, signing_key=KEY, now=NOW + timedelta(minutes=5))
    assert isinstance(decoded, AccessClaims)
    assert decoded.user_id == "user-1"
    assert decoded.expires_at == expires
    assert len(decoded.token_id) == 32 and int(decoded.token_id, 16) >= 0
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["iss"] == "geo-label" and payload["typ"] == "access"
    assert payload["iat"] == payload["nbf"] == int(NOW.timestamp())


def test_round_trip_on_the_wall_clock() -> None:
    token, _ = issue_access_token(user_id="user-2", session_id="s-1", signing_key=KEY, minutes=1)
    assert decode_access_token(token, signing_key=KEY).user_id == "user-2"


def test_each_token_has_its_own_id() -> None:
    first, _ = issue_access_token(user_id="u", session_id="s-1", signing_key=KEY, minutes=1, now=NOW)
    second, _ = issue_access_token(user_id="u", session_id="s-1", signing_key=KEY, minutes=1, now=NOW)
    assert decode_access_token(first, signing_key=KEY, now=NOW).token_id != (
        decode_access_token(second, signing_key=KEY, now=NOW).token_id
    )


def test_expired() -> None:
    token, expires = issue_access_token(
        user_id="user-1", session_id="s-1", signing_key=KEY, minutes=15, now=NOW
    )
    decode_access_token(token, signing_key=KEY, now=expires + timedelta(seconds=4))  # within the 5 s leeway
    assert rejected(token, now=expires + timedelta(seconds=6))
    assert rejected(token, now=NOW + timedelta(days=1))


def test_not_yet_valid() -> None:
    token, _ = issue_access_token(user_id="user-1", session_id="s-1", signing_key=KEY, minutes=15, now=NOW)
    assert rejected(token, now=NOW - timedelta(minutes=1))


def test_tampered_signature() -> None:
    token, _ = issue_access_token(user_id="user-1", session_id="s-1", signing_key=KEY, minutes=15, now=NOW)
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert rejected(f"{head}.{body}.{forged}")


def test_tampered_payload() -> None:
    token, _ = issue_access_token(user_id="user-1", session_id="s-1", signing_key=KEY, minutes=15, now=NOW)
    head, _, signature = token.split(".")
    other = jwt.encode(claims(sub="admin"), secrets.token_bytes(32), algorithm="HS256").split(".")[1]
    assert rejected(f"{head}.{other}.{signature}")


def test_alg_none_rejected() -> None:
    unsigned = jwt.encode(claims(), "", algorithm="none")
    assert unsigned.endswith(".")
    assert rejected(unsigned)


def test_signed_with_another_key_rejected() -> None:
    assert rejected(jwt.encode(claims(), secrets.token_bytes(32), algorithm="HS256"))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_other_hmac_algorithm_rejected() -> None:
    assert rejected(jwt.encode(claims(), KEY, algorithm="HS512"))


@pytest.mark.parametrize(
    "bad",
    [
        claims(typ="refresh"),
        claims(typ=None),
        claims(iss="keycloak"),
        claims(iss=None),
        claims(sub=None),
        claims(sub=""),
        claims(jti=None),
        claims(exp=None),
        claims(nbf=None),
        claims(iat=None),
        claims(exp=str(int((NOW + timedelta(minutes=15)).timestamp()))),
        claims(exp=True),
        claims(exp=10**20),
        claims(aud="someone"),
    ],
    ids=[
        "typ-refresh", "no-typ", "wrong-iss", "no-iss", "no-sub", "empty-sub", "no-jti", "no-exp", "no-nbf",
        "no-iat", "exp-as-string", "exp-as-bool", "exp-huge", "unexpected-aud",
    ],
)  # fmt: skip
def test_bad_claims_rejected(bad: dict[str, Any]) -> None:
    assert rejected(jwt.encode(bad, KEY, algorithm="HS256"))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "a.b", "....", "\u00e9.\u00e9.\u00e9"])
def test_garbage_rejected(garbage: str) -> None:
    assert rejected(garbage)


def test_short_key_and_naive_time_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        issue_access_token(user_id="u", session_id="s-1", signing_key=b"short", minutes=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        issue_access_token(
            user_id="u", session_id="s-1", signing_key=KEY, minutes=1, now=datetime(2025, 1, 1)
        )


# --- the signing key ---


def settings_for(data_dir: Path, key: str | None = None) -> Settings:
    # Explicit arguments win over any GEO_LABEL_* variable of the environment running the tests.
    return Settings(data_dir=data_dir, token_signing_key=None if key is None else SecretStr(key))


def test_key_from_settings_wins(tmp_path: Path) -> None:
    configured = "k" * 40
    assert load_or_create_signing_key(settings_for(tmp_path, configured)) == configured.encode()
    assert not (tmp_path / "token-signing.key").exists()


def test_key_file_created_0600_then_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "var" / "nested"
    key = load_or_create_signing_key(settings_for(data_dir))
    path = data_dir / "token-signing.key"
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert bytes.fromhex(path.read_text().strip()) == key
    assert load_or_create_signing_key(settings_for(data_dir)) == key
    assert [entry.name for entry in data_dir.iterdir()] == ["token-signing.key"]  # no temporary file left
    # A token made with it round-trips.
    token, _ = issue_access_token(user_id="u", session_id="s-1", signing_key=key, minutes=1, now=NOW)
    assert decode_access_token(token, signing_key=key, now=NOW).user_id == "u"


def test_key_file_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        load_or_create_signing_key(settings_for(tmp_path))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "token-signing.key").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_key_file_accessible_to_others_refused(tmp_path: Path, mode: int) -> None:
    load_or_create_signing_key(settings_for(tmp_path))
    path = tmp_path / "token-signing.key"
    path.chmod(mode)
    with pytest.raises(SecurityConfigError, match="chmod 600"):
        load_or_create_signing_key(settings_for(tmp_path))


@pytest.mark.parametrize("content", ["not hex at all\n", "abcd\n", ""])
def test_invalid_key_file_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "token-signing.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(SecurityConfigError, match="token signing key"):
        load_or_create_signing_key(settings_for(tmp_path))


def test_key_file_that_is_a_directory_refused(tmp_path: Path) -> None:
    (tmp_path / "token-signing.key").mkdir(mode=0o700)
    with pytest.raises(SecurityConfigError, match="token signing key"):
        load_or_create_signing_key(settings_for(tmp_path))
