"""Real PostgreSQL + PostGIS for the tests.

GeoLabel's own embedded cluster in a temporary folder (what runs on a fresh machine), or the server named by
GEO_LABEL_TEST_DATABASE_URL (a superuser URL). Each test session gets a throwaway database, migrated.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url
from sqlalchemy.orm import Session

from access_control import default_registry
from geo_label.db.context import Caller
from geo_label.db.engine import Database, upgrade_schema
from geo_label.db.runtime import system_session

#: The audit seal key of the test databases (a deployment's lives under its data directory).
AUDIT_KEY = b"audit-seal-key-of-the-tests-0123456789"


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class TestDatabase:
    owner_url: str
    database: Database

    @contextmanager
    def as_system(self) -> Iterator[Session]:
        """A transaction as the server-side operator (sees every project), exactly as the CLI opens one."""
        with system_session(self.database, default_registry()) as session:
            yield session

    @contextmanager
    def as_caller(self, caller: Caller) -> Iterator[Session]:
        with self.database.transaction(caller) as session:
            yield session


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    url = os.environ.get("GEO_LABEL_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from geo_label.db.embedded import SUPERUSER_ROLE, embedded_database

    root = Path(tempfile.mkdtemp(prefix="geo-label-pg-", dir="/tmp"))
    root.chmod(0o755)  # the server runs as the postgres user when the tests run as root
    try:
        with embedded_database(root) as cluster:
            yield cluster.url("postgres", user=SUPERUSER_ROLE)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def test_db(pg_admin_url: str) -> Iterator[TestDatabase]:
    name = f"geo_label_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq(pg_admin_url), autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE {name}"
        )  # the migrations, run as this superuser, add the service role
    owner_url = make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade_schema(owner_url, audit_key=AUDIT_KEY)
    database = Database.connect(owner_url, audit_key=AUDIT_KEY, pool_size=5)
    try:
        yield TestDatabase(owner_url=owner_url, database=database)
    finally:
        database.dispose()
        with psycopg.connect(libpq(pg_admin_url), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
