"""Regression: many concurrent requests on a small connection pool all succeed (no pool timeouts, no 500).

A request's transaction is opened by the caller's dependency in one worker thread and used by the route in
another; without admission to the database, a hundred concurrent requests left every worker thread waiting for
a connection while every connection waited for a thread (found by benchmarks/workflow.py: HTTP 500 after the
pool's 30 s timeout)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import build_state, create_app
from geo_label.db.engine import Database
from geo_label.settings import PasswordScheme, Settings
from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import make_user, unique

CONCURRENT = 100


@pytest.fixture
def small_pool_client(test_db: TestDatabase, tmp_path: Path) -> Iterator[TestClient]:
    database = Database.connect(
        test_db.database.owner_url, audit_key=test_db.database.audit_key, pool_size=2
    )  # four connections
    settings = Settings(
        allowed_hosts=["testserver"],  # the test client's Host
        data_dir=tmp_path,
        token_signing_key=SecretStr("k" * 48),
        password_scheme=PasswordScheme.PBKDF2_SHA256,
    )
    try:
        with TestClient(create_app(build_state(settings, database)), raise_server_exceptions=False) as client:
            yield client
    finally:
        database.dispose()


def test_a_hundred_concurrent_requests_on_four_connections(
    small_pool_client: TestClient, test_db: TestDatabase
) -> None:
    headers = token(small_pool_client, make_user(test_db, unique("crowd"), "S", "USA"))
    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENT) as pool:
        statuses = list(
            pool.map(
                lambda _: small_pool_client.get("/api/v1/me", headers=headers).status_code, range(CONCURRENT)
            )
        )
    assert statuses == [200] * CONCURRENT
    assert time.monotonic() - started < 25  # well under the pool's 30 s timeout: nobody waited for it
