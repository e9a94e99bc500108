"""Which local account an OIDC token signs in as: only the one explicitly linked to its subject.

Regression (adversarial round, issue 17 item 1): a token whose subject was linked to no account, carrying
``preferred_username`` equal to a local administrator's name, signed in as that administrator."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm

from access_control import default_registry
from geo_label import users
from geo_label.auth import subject_of_token
from geo_label.errors import AuthenticationError
from geo_label.security.oidc import OidcVerifier
from tests.pg import TestDatabase
from tests.world import password_hash, unique

ISSUER = "https://idp.example.mil/realms/geo"
SIGNING_KEY = b"s" * 48


@pytest.fixture(scope="module")
def provider_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def verifier(tmp_path: Path, provider_key: RSAPrivateKey) -> OidcVerifier:
    jwk = {**RSAAlgorithm.to_jwk(provider_key.public_key(), as_dict=True), "kid": "k1", "alg": "RS256"}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return OidcVerifier(path, issuer=ISSUER, audience=None, username_claim="preferred_username")


def provider_token(key: RSAPrivateKey, *, subject: str, username: str) -> str:
    now = datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "sub": subject,
        "preferred_username": username,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def local_account(db: TestDatabase, *, roles: frozenset[str], oidc_subject: str | None = None) -> uuid.UUID:
    name = unique("officer")
    with db.as_system() as session:
        clearance = users.Clearance.parse("TS", citizenship="USA", registry=default_registry())
        user = users.create_user(
            session,
            session.info["caller"],
            username=name,
            password_hash=password_hash(),
            clearance=clearance,
            roles=roles,
            oidc_subject=oidc_subject,
        )
        return user.user.id


def username_of(db: TestDatabase, user_id: uuid.UUID) -> str:
    with db.as_system() as session:
        return str(
            next(u.username for u in users.list_users(session, session.info["caller"]) if u.id == user_id)
        )


def test_unlinked_subject_with_an_admins_username_is_refused(
    test_db: TestDatabase, verifier: OidcVerifier, provider_key: RSAPrivateKey
) -> None:
    admin_id = local_account(test_db, roles=frozenset({"admin", "security_officer"}))
    token = provider_token(provider_key, subject=str(uuid.uuid4()), username=username_of(test_db, admin_id))
    with test_db.database.sessions() as session, pytest.raises(AuthenticationError):
        subject_of_token(session, token, signing_key=SIGNING_KEY, oidc=verifier)


def test_linked_subject_signs_in_as_its_account_whatever_the_username(
    test_db: TestDatabase, verifier: OidcVerifier, provider_key: RSAPrivateKey
) -> None:
    subject = str(uuid.uuid4())
    linked = local_account(test_db, roles=frozenset(), oidc_subject=subject)
    other = local_account(test_db, roles=frozenset({"admin"}))
    token = provider_token(provider_key, subject=subject, username=username_of(test_db, other))
    with test_db.database.sessions() as session:
        assert subject_of_token(session, token, signing_key=SIGNING_KEY, oidc=verifier).user_id == linked
