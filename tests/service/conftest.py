from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import build_state, create_app
from geo_label.settings import PasswordScheme, Settings
from tests.pg import TestDatabase
from tests.world import PASSWORD


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def client(test_db: TestDatabase, data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=data_dir,
        token_signing_key=SecretStr("k" * 48),
        password_scheme=PasswordScheme.PBKDF2_SHA256,
        lockout_attempts=3,
    )
    app = create_app(build_state(settings, test_db.database))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def token(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
