from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from api.app import build_state, create_app
from geo_label.settings import PasswordScheme, Settings
from tests.pg import TestDatabase
from tests.response_contract import ResponseContract
from tests.world import PASSWORD

#: Every response of the session's client is checked against its route's declared model (see
#: tests.response_contract); a test that received one that breaks it fails.
CONTRACT: list[ResponseContract] = []


@pytest.fixture(autouse=True)
def responses_keep_their_schema() -> Iterator[None]:
    seen = len(CONTRACT[0].violations) if CONTRACT else 0
    yield
    if CONTRACT:
        assert CONTRACT[0].violations[seen:] == [], "responses that break their declared schema"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def client(test_db: TestDatabase, data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        allowed_hosts=["testserver"],  # the test client's Host
        data_dir=data_dir,
        token_signing_key=SecretStr("k" * 48),
        password_scheme=PasswordScheme.PBKDF2_SHA256,
        lockout_attempts=3,
    )
    app = create_app(build_state(settings, test_db.database))
    checked = ResponseContract(app)
    CONTRACT.append(checked)
    with TestClient(checked, raise_server_exceptions=False) as test_client:
        yield test_client


def token(client: TestClient, username: str) -> dict[str, str]:
    """Sign in as a client should: a 429 (a full password-check pool) is waited out as Retry-After says."""
    for _ in range(50):
        response = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        if response.status_code != 429:
            break
        time.sleep(min(float(response.headers.get("retry-after", "1")), 1.0) / 10)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(autouse=True)
def fresh_sign_in_throttle(request: pytest.FixtureRequest) -> None:
    """Every test signs in from the same test client address: each starts with no failures counted against
    it, as a new source would (the counts are rows every process shares)."""
    if "client" in request.fixturenames:
        test_db: TestDatabase = request.getfixturevalue("test_db")
        with test_db.database.sessions() as session, session.begin():
            session.execute(text("DELETE FROM signin_throttle"))
