"""Credentials: password hashing, access tokens, OIDC token verification."""

from geo_label.security.errors import SecurityConfigError
from geo_label.security.lockout import LoginState, after_failure, after_success, is_locked
from geo_label.security.oidc import OidcIdentity, OidcVerifier, looks_like_oidc, oidc_verifier_from_settings
from geo_label.security.passwords import (
    DUMMY_HASHES,
    Argon2idHasher,
    PasswordHasher,
    Pbkdf2Sha256Hasher,
    check_password_policy,
    hasher_for,
    verify_against_dummy,
    verify_password,
)
from geo_label.security.tokens import (
    AccessClaims,
    decode_access_token,
    issue_access_token,
    load_or_create_signing_key,
)

__all__ = [
    "DUMMY_HASHES",
    "AccessClaims",
    "Argon2idHasher",
    "LoginState",
    "OidcIdentity",
    "OidcVerifier",
    "PasswordHasher",
    "Pbkdf2Sha256Hasher",
    "SecurityConfigError",
    "after_failure",
    "after_success",
    "check_password_policy",
    "decode_access_token",
    "hasher_for",
    "is_locked",
    "issue_access_token",
    "load_or_create_signing_key",
    "looks_like_oidc",
    "oidc_verifier_from_settings",
    "verify_against_dummy",
    "verify_password",
]
