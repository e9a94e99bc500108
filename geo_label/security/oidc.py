"""Tokens of an on-premises OpenID Connect provider (e.g. Keycloak), verified offline against a JWKS file.

No network access, ever: the provider's public keys come from ``GEO_LABEL_OIDC_JWKS_FILE`` (export them from
``<issuer>/protocol/openid-connect/certs`` when the provider rotates keys). Only asymmetric signatures are
accepted (RS256, PS256, ES256), and the algorithms a key may verify are fixed by the key itself, never by the
token's header, which closes the HS256-with-the-public-key confusion and ``alg: none``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from geo_label.errors import AuthenticationError
from geo_label.security._claims import aware_now, check_times
from geo_label.security.errors import SecurityConfigError
from geo_label.settings import Settings

ALLOWED_ALGORITHMS: Final = frozenset({"RS256", "PS256", "ES256"})
_RSA_ALGORITHMS: Final = frozenset({"RS256", "PS256"})
_EC_ALGORITHMS: Final = frozenset({"ES256"})
MIN_RSA_BITS: Final = 2048
#: Clock tolerance between the provider and this server.
LEEWAY_SECONDS: Final = 5
#: JWK members that only a private key has (RFC 7518 section 6).
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_INVALID: Final = "invalid or expired token"

_PublicKey = RSAPublicKey | EllipticCurvePublicKey


@dataclass(frozen=True)
class OidcIdentity:
    subject: str
    username: str
    issuer: str
    expires_at: datetime


@dataclass(frozen=True)
class _VerificationKey:
    key: _PublicKey
    algorithms: frozenset[str]


class OidcVerifier:
    """Verifies the provider's bearer tokens against the keys of one JWKS file, loaded once."""

    def __init__(self, jwks_path: Path, issuer: str, audience: str | None, username_claim: str) -> None:
        if not issuer:
            raise SecurityConfigError("GEO_LABEL_OIDC_ISSUER must be set when GEO_LABEL_OIDC_JWKS_FILE is")
        if not username_claim:
            raise SecurityConfigError("GEO_LABEL_OIDC_USERNAME_CLAIM must not be empty")
        self.issuer = issuer
        self.audience = audience or None
        self.username_claim = username_claim
        self._keys = _load_jwks(jwks_path)

    @property
    def key_ids(self) -> frozenset[str]:
        """The ``kid`` of every usable signing key of the JWKS file."""
        return frozenset(self._keys)

    def verify(self, token: str, now: datetime | None = None) -> OidcIdentity:
        """The identity in a valid token; AuthenticationError for anything wrong, whatever it is.

        Checks: a known ``kid``, an algorithm that key may verify, the signature, exp/iat (and nbf when
        present) with 5 s leeway, ``iss`` equal to the issuer, ``aud`` containing the audience when one is
        configured, and a non-empty string ``sub`` and username claim.
        """
        current = aware_now(now)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError(_INVALID) from None
        kid = header.get("kid")
        entry = self._keys.get(kid) if isinstance(kid, str) else None
        if entry is None:
            raise AuthenticationError(_INVALID)
        try:
            claims = jwt.decode(
                token,
                entry.key,
                algorithms=sorted(entry.algorithms),  # from the key, never from the header
                issuer=self.issuer,
                audience=self.audience,
                options={
                    "require": ["sub", "iss", "exp", "iat"],
                    "verify_aud": self.audience is not None,
                    # Times are checked below against ``now`` (PyJWT only knows the wall clock).
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            raise AuthenticationError(_INVALID) from None
        subject, username = claims.get("sub"), claims.get(self.username_claim)
        expires = check_times(claims, current, leeway=LEEWAY_SECONDS)
        if not isinstance(subject, str) or not subject or not isinstance(username, str) or not username:
            raise AuthenticationError(_INVALID)
        if expires is None:
            raise AuthenticationError(_INVALID)
        return OidcIdentity(subject=subject, username=username, issuer=self.issuer, expires_at=expires)

    def looks_like_oidc(self, token: str) -> bool:
        """Whether a bearer token should go to this verifier rather than to the local one (unverified guess).

        True when the header names a key (``kid``) or an asymmetric algorithm, or the payload's ``iss`` is the
        configured issuer. Local tokens are HS256 without ``kid`` and with ``iss`` "geo-label". Never raises.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return False
        alg = header.get("alg")
        if "kid" in header or (isinstance(alg, str) and alg[:2] in {"RS", "ES", "PS"}):
            return True
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return claims.get("iss") == self.issuer


def looks_like_oidc(token: str, verifier: OidcVerifier) -> bool:
    """``verifier.looks_like_oidc(token)``: whether to route a bearer token to the OIDC verifier."""
    return verifier.looks_like_oidc(token)


def _load_jwks(path: Path) -> dict[str, _VerificationKey]:
    """kid -> key and the algorithms it may verify; SecurityConfigError when the file is unusable.

    Keys without ``kid``, for encryption (``use`` other than "sig"), of another type or curve, with an ``alg``
    outside RS256/PS256/ES256, or RSA under 2048 bits are skipped; private key material or a duplicate ``kid``
    refuses the whole file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SecurityConfigError(f"cannot read the OIDC JWKS file {path}: {reason}") from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise SecurityConfigError(f"the OIDC JWKS file {path} is not valid JSON") from None
    raw_keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(raw_keys, list):
        raise SecurityConfigError(f'the OIDC JWKS file {path} has no "keys" list')
    keys: dict[str, _VerificationKey] = {}
    for raw in raw_keys:
        if not isinstance(raw, dict):
            continue
        if _PRIVATE_MEMBERS & raw.keys():
            raise SecurityConfigError(
                f"the OIDC JWKS file {path} holds private or secret key material; export only the public keys"
            )
        kid = raw.get("kid")
        entry = _verification_key(raw)
        if not isinstance(kid, str) or not kid or entry is None:
            continue
        if kid in keys:
            raise SecurityConfigError(f"the OIDC JWKS file {path} has two keys with kid {kid!r}")
        keys[kid] = entry
    if not keys:
        raise SecurityConfigError(
            f"the OIDC JWKS file {path} has no usable signing key (RSA >= {MIN_RSA_BITS} bits or EC P-256, "
            "with a kid)"
        )
    return keys


def _verification_key(raw: Mapping[str, Any]) -> _VerificationKey | None:
    if raw.get("use", "sig") != "sig":
        return None
    declared = raw.get("alg")
    if declared is not None and declared not in ALLOWED_ALGORITHMS:
        return None
    try:
        jwk = jwt.PyJWK.from_dict(dict(raw))
    except jwt.PyJWTError:
        return None
    key = jwk.key
    if isinstance(key, RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
        allowed = _RSA_ALGORITHMS
    elif isinstance(key, EllipticCurvePublicKey) and isinstance(key.curve, SECP256R1):
        allowed = _EC_ALGORITHMS
    else:
        return None
    if declared is not None:
        allowed = allowed & {declared}
    return _VerificationKey(key=key, algorithms=allowed) if allowed else None


def oidc_verifier_from_settings(settings: Settings) -> OidcVerifier | None:
    """The verifier for the configured provider; None when ``oidc_jwks_file`` is unset.

    SecurityConfigError when the JWKS file is set but the issuer is missing or the file is unreadable or holds
    no usable key.
    """
    if settings.oidc_jwks_file is None:
        return None
    if not settings.oidc_issuer:
        raise SecurityConfigError("GEO_LABEL_OIDC_ISSUER must be set when GEO_LABEL_OIDC_JWKS_FILE is")
    return OidcVerifier(
        settings.oidc_jwks_file,
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
        username_claim=settings.oidc_username_claim,
    )
