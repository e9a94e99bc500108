"""Offline verification of OIDC provider tokens against a JWKS file, with real RSA and EC keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from geo_label.errors import AuthenticationError
from geo_label.security.errors import SecurityConfigError
from geo_label.security.oidc import OidcIdentity, OidcVerifier, looks_like_oidc, oidc_verifier_from_settings
from geo_label.security.tokens import issue_access_token
from geo_label.settings import Settings

ISSUER = "https://keycloak.example.mil/realms/geo"
AUDIENCE = "geo-label"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Keys:
    rsa: RSAPrivateKey
    ec: EllipticCurvePrivateKey
    other_rsa: RSAPrivateKey  # not in the JWKS


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(
        rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec=ec.generate_private_key(ec.SECP256R1()),
        other_rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def public_jwk(key: RSAPrivateKey | EllipticCurvePrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    if isinstance(key, RSAPrivateKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", **extra}


def write_jwks(path: Path, *jwks: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"keys": list(jwks)}))
    return path


@pytest.fixture
def jwks_file(tmp_path: Path, keys: Keys) -> Path:
    # Like Keycloak: an RS256 signing key, an encryption key (skipped), plus an EC key without "alg".
    return write_jwks(
        tmp_path / "jwks.json",
        public_jwk(keys.rsa, "rsa-1", alg="RS256"),
        public_jwk(keys.other_rsa, "rsa-enc", alg="RSA-OAEP", use="enc"),
        public_jwk(keys.ec, "ec-1"),
    )


@pytest.fixture
def verifier(jwks_file: Path) -> OidcVerifier:
    return OidcVerifier(jwks_file, issuer=ISSUER, audience=AUDIENCE, username_claim="preferred_username")


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": [AUDIENCE, "account"],
        "sub": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        "preferred_username": "analyst.jones",
        "email": "jones@example.mil",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(minutes=5)).timestamp()),
        "typ": "Bearer",
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def sign(key: Any, alg: str, kid: str | None, payload: dict[str, Any]) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def rejected(verifier: OidcVerifier, token: str, now: datetime = NOW) -> bool:
    with pytest.raises(AuthenticationError) as caught:
        verifier.verify(token, now=now)
    assert caught.value.detail == "invalid or expired token"
    return True


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def hs256_by_hand(secret: bytes, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """An HS256 token signed with any bytes (PyJWT itself refuses a PEM key as an HMAC secret)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


# --- accepted ---


def test_rs256_token_accepted(verifier: OidcVerifier, keys: Keys) -> None:
    identity = verifier.verify(sign(keys.rsa, "RS256", "rsa-1", claims()), now=NOW)
    assert identity == OidcIdentity(
        subject="f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        username="analyst.jones",
        issuer=ISSUER,
        expires_at=NOW + timedelta(minutes=5),
    )


def test_es256_token_accepted(verifier: OidcVerifier, keys: Keys) -> None:
    assert verifier.verify(sign(keys.ec, "ES256", "ec-1", claims()), now=NOW).username == "analyst.jones"


def test_ps256_accepted_with_an_rsa_key_without_declared_alg(tmp_path: Path, keys: Keys) -> None:
    path = write_jwks(tmp_path / "jwks.json", public_jwk(keys.rsa, "rsa-1"))
    verifier = OidcVerifier(path, issuer=ISSUER, audience=AUDIENCE, username_claim="preferred_username")
    assert verifier.verify(sign(keys.rsa, "PS256", "rsa-1", claims()), now=NOW).subject
    assert verifier.verify(sign(keys.rsa, "RS256", "rsa-1", claims()), now=NOW).subject


def test_username_from_the_configured_claim(jwks_file: Path, keys: Keys) -> None:
    verifier = OidcVerifier(jwks_file, issuer=ISSUER, audience=AUDIENCE, username_claim="email")
    identity = verifier.verify(sign(keys.rsa, "RS256", "rsa-1", claims()), now=NOW)
    assert identity.username == "jones@example.mil"


def test_audience_not_checked_when_not_configured(jwks_file: Path, keys: Keys) -> None:
    verifier = OidcVerifier(jwks_file, issuer=ISSUER, audience=None, username_claim="preferred_username")
    assert verifier.verify(sign(keys.rsa, "RS256", "rsa-1", claims(aud="anything")), now=NOW)
    assert verifier.verify(sign(keys.rsa, "RS256", "rsa-1", claims(aud=None)), now=NOW)


def test_on_the_wall_clock(verifier: OidcVerifier, keys: Keys) -> None:
    now = datetime.now(UTC)
    token = sign(keys.ec, "ES256", "ec-1", claims(iat=int(now.timestamp()), exp=int(now.timestamp()) + 60))
    assert verifier.verify(token).username == "analyst.jones"


# --- rejected ---


@pytest.mark.parametrize(
    "payload",
    [
        claims(iss="https://evil.example/realms/geo"),
        claims(iss=None),
        claims(aud="another-client"),
        claims(aud=None),
        claims(sub=None),
        claims(sub=""),
        claims(preferred_username=None),
        claims(preferred_username=""),
        claims(preferred_username=["analyst.jones"]),
        claims(exp=None),
        claims(iat=None),
        claims(exp="1748779500"),
        claims(nbf=int((NOW + timedelta(minutes=1)).timestamp())),
        claims(iat=int((NOW + timedelta(minutes=1)).timestamp())),
    ],
    ids=[
        "wrong-iss", "no-iss", "wrong-aud", "no-aud", "no-sub", "empty-sub", "no-username", "empty-username",
        "username-list", "no-exp", "no-iat", "exp-string", "nbf-future", "iat-future",
    ],
)  # fmt: skip
def test_bad_claims_rejected(verifier: OidcVerifier, keys: Keys, payload: dict[str, Any]) -> None:
    assert rejected(verifier, sign(keys.rsa, "RS256", "rsa-1", payload))


def test_expired_rejected(verifier: OidcVerifier, keys: Keys) -> None:
    token = sign(keys.rsa, "RS256", "rsa-1", claims())
    assert verifier.verify(token, now=NOW + timedelta(minutes=5, seconds=4))  # within the 5 s leeway
    assert rejected(verifier, token, now=NOW + timedelta(minutes=5, seconds=6))


def test_unknown_or_missing_kid_rejected(verifier: OidcVerifier, keys: Keys) -> None:
    assert rejected(verifier, sign(keys.rsa, "RS256", "rsa-2", claims()))
    assert rejected(verifier, sign(keys.rsa, "RS256", None, claims()))
    assert rejected(verifier, sign(keys.other_rsa, "RS256", "rsa-enc", claims()))  # an encryption key


def test_signed_by_a_key_outside_the_jwks_rejected(verifier: OidcVerifier, keys: Keys) -> None:
    assert rejected(verifier, sign(keys.other_rsa, "RS256", "rsa-1", claims()))


def test_algorithm_must_fit_the_key(verifier: OidcVerifier, keys: Keys) -> None:
    assert rejected(verifier, sign(keys.ec, "ES256", "rsa-1", claims()))
    assert rejected(verifier, sign(keys.rsa, "RS256", "ec-1", claims()))
    # rsa-1 declares alg RS256, so PS256 with the same key is refused too.
    assert rejected(verifier, sign(keys.rsa, "PS256", "rsa-1", claims()))
    assert rejected(verifier, sign(keys.rsa, "RS512", "rsa-1", claims()))


def test_hs256_with_the_public_key_as_secret_rejected(verifier: OidcVerifier, keys: Keys) -> None:
    """The classic algorithm-confusion attack: HMAC keyed with the (public) RSA key the server holds."""
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    public = keys.rsa.public_key()
    secrets_to_try = [
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        json.dumps(public_jwk(keys.rsa, "rsa-1", alg="RS256")).encode(),
    ]
    for secret in secrets_to_try:
        assert rejected(verifier, hs256_by_hand(secret, header, claims()))


def test_alg_none_rejected(verifier: OidcVerifier) -> None:
    unsigned = jwt.encode(claims(), "", algorithm="none", headers={"kid": "rsa-1"})
    assert rejected(verifier, unsigned)


def test_local_token_rejected(verifier: OidcVerifier) -> None:
    token, _ = issue_access_token(user_id="u", session_id="s", signing_key=b"k" * 32, minutes=5, now=NOW)
    assert rejected(verifier, token)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "e30.e30.", "\u00e9.\u00e9.\u00e9"])
def test_garbage_rejected(verifier: OidcVerifier, garbage: str) -> None:
    assert rejected(verifier, garbage)


def test_tampered_payload_rejected(verifier: OidcVerifier, keys: Keys) -> None:
    head, _, signature = sign(keys.rsa, "RS256", "rsa-1", claims()).split(".")
    body = b64url(json.dumps(claims(preferred_username="admin")).encode())
    assert rejected(verifier, f"{head}.{body}.{signature}")


# --- routing ---


def test_looks_like_oidc(verifier: OidcVerifier, keys: Keys) -> None:
    local, _ = issue_access_token(user_id="u", session_id="s", signing_key=b"k" * 32, minutes=5, now=NOW)
    assert verifier.looks_like_oidc(sign(keys.rsa, "RS256", "rsa-1", claims()))
    assert verifier.looks_like_oidc(sign(keys.ec, "ES256", None, claims()))
    assert verifier.looks_like_oidc(jwt.encode(claims(), b"s" * 32, algorithm="HS256"))  # iss is the issuer
    assert verifier.looks_like_oidc(jwt.encode({}, b"s" * 32, algorithm="HS256", headers={"kid": "x"}))
    assert not verifier.looks_like_oidc(local)
    assert not looks_like_oidc(local, verifier)
    assert looks_like_oidc(sign(keys.rsa, "RS256", "rsa-1", claims()), verifier)
    assert not verifier.looks_like_oidc(jwt.encode({"iss": "geo-label"}, "", algorithm="none"))
    for garbage in ["", "abc", "a.b.c", "\u00e9.\u00e9.\u00e9"]:
        assert not verifier.looks_like_oidc(garbage)


# --- configuration ---


def settings_for(**values: Any) -> Settings:
    defaults: dict[str, Any] = {"oidc_jwks_file": None, "oidc_issuer": None, "oidc_audience": None}
    return Settings(**{**defaults, **values})


def test_from_settings(jwks_file: Path, keys: Keys) -> None:
    assert oidc_verifier_from_settings(settings_for()) is None
    verifier = oidc_verifier_from_settings(
        settings_for(oidc_jwks_file=jwks_file, oidc_issuer=ISSUER, oidc_audience=AUDIENCE)
    )
    assert verifier is not None
    assert verifier.key_ids == {"rsa-1", "ec-1"}
    assert verifier.verify(sign(keys.rsa, "RS256", "rsa-1", claims()), now=NOW).username == "analyst.jones"


def test_from_settings_needs_an_issuer(jwks_file: Path) -> None:
    with pytest.raises(SecurityConfigError, match="GEO_LABEL_OIDC_ISSUER"):
        oidc_verifier_from_settings(settings_for(oidc_jwks_file=jwks_file))


def test_unreadable_or_invalid_jwks_file(tmp_path: Path, keys: Keys) -> None:
    cases = {
        "missing.json": None,
        "not-json.json": "{keys: ",
        "no-keys.json": json.dumps({"issuer": ISSUER}),
        "empty.json": json.dumps({"keys": []}),
        "only-enc.json": json.dumps({"keys": [public_jwk(keys.rsa, "enc", alg="RSA-OAEP", use="enc")]}),
        "no-kid.json": json.dumps({"keys": [{**public_jwk(keys.rsa, "x"), "kid": None}]}),
        "weak-rsa.json": json.dumps(
            {"keys": [public_jwk(rsa.generate_private_key(public_exponent=65537, key_size=1024), "weak")]}
        ),
        "p384.json": json.dumps({"keys": [public_jwk(ec.generate_private_key(ec.SECP384R1()), "p384")]}),
        "private.json": json.dumps(
            {"keys": [{**public_jwk(keys.rsa, "rsa-1"), **RSAAlgorithm.to_jwk(keys.rsa, as_dict=True)}]}
        ),
        "symmetric.json": json.dumps({"keys": [{"kty": "oct", "kid": "h", "k": b64url(b"s" * 32)}]}),
        "duplicate-kid.json": json.dumps(
            {"keys": [public_jwk(keys.rsa, "same"), public_jwk(keys.ec, "same", alg="ES256")]}
        ),
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_text(content)
        with pytest.raises(SecurityConfigError, match="JWKS file") as caught:
            oidc_verifier_from_settings(settings_for(oidc_jwks_file=path, oidc_issuer=ISSUER))
        assert str(path) in caught.value.detail, name
