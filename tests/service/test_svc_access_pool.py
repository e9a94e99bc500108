"""MARKINGS.md section 8: a TOP SECRET request then an UNCLASSIFIED request on ONE pooled connection: the
second sees nothing of the first. The caller's context lives for one transaction only, and a missing context
is an error, never a default."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Connection, create_engine, event, select, text
from sqlalchemy.exc import DBAPIError

from api.app import build_state, create_app
from geo_label.db.access import readable
from geo_label.db.engine import Database, service_url
from geo_label.db.models import ANNOTATIONS
from geo_label.settings import PasswordScheme, Settings
from tests import pg
from tests.service.conftest import token
from tests.service.test_svc_access_support import TS_SI, U, create_annotation, headers, small_image
from tests.world import add_member, caller, ingest, make_project, make_user, unique

SETTINGS = ("user_id", "clearance", "sci", "citizenship", "cui_ok", "projects", "roles")
MARKED_TABLES = ("projects", "images", "chips", "annotations", "annotation_versions", "audit_log")


@dataclass
class Scene:
    project: str
    ts_user: str
    u_user: str
    ts_ids: set[str]
    u_ids: set[str]


@pytest.fixture(scope="module")
def scene(
    client: TestClient, test_db: pg.TestDatabase, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Scene:
    project = make_project(test_db, U)
    ts_user = make_user(test_db, unique("tsp"), "TS//SI/TK", "USA")
    u_user = make_user(test_db, unique("upl"), "U", "USA")
    add_member(test_db, project, ts_user)
    add_member(test_db, project, u_user)
    image = ingest(test_db, project, small_image(tmp_path_factory.mktemp("scenes"), 300), data_dir, U)
    chip = client.get(f"/api/v1/chips?image={image}", headers=headers(client, ts_user)).json()["items"][0]
    made: dict[str, set[str]] = {U: set(), TS_SI: set()}
    for index, marking in enumerate((U, TS_SI, TS_SI, U, TS_SI)):
        response = create_annotation(client, headers(client, ts_user), chip, index=index, marking=marking)
        assert response.status_code == 201, response.text
        made[marking].add(response.json()["id"])
    return Scene(str(project), ts_user, u_user, made[TS_SI], made[U])


@pytest.fixture
def one_connection(test_db: pg.TestDatabase) -> Iterator[Database]:
    """A Database whose pool holds exactly one connection (no overflow): every transaction reuses it."""
    engine = create_engine(service_url(test_db.owner_url), pool_size=1, max_overflow=0, pool_timeout=5)
    database = Database(
        owner_url=test_db.owner_url, service_engine=engine, audit_key=test_db.database.audit_key
    )
    try:
        yield database
    finally:
        database.dispose()


def settings_now(connection: Connection) -> dict[str, Any]:
    columns = ", ".join(f"current_setting('geo_label.{name}', true) AS {name}" for name in SETTINGS)
    return dict(connection.execute(text(f"SELECT {columns}")).mappings().one())


def backend(connection: Connection) -> int:
    return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def project_rows(connection: Connection, project: str) -> set[str]:
    """RLS alone: a raw query with no service filter."""
    rows = connection.execute(
        text("SELECT id::text FROM annotations WHERE project_id = :p"), {"p": uuid.UUID(project)}
    )
    return set(rows.scalars())


def test_ts_then_u_transactions_on_one_connection(
    test_db: pg.TestDatabase, one_connection: Database, scene: Scene
) -> None:
    ts_caller = caller(test_db, scene.ts_user)
    u_caller = caller(test_db, scene.u_user)
    with one_connection.transaction(ts_caller) as session:
        connection = session.connection()
        pid = backend(connection)
        assert settings_now(connection)["clearance"] == "3"
        assert project_rows(connection, scene.project) == scene.ts_ids | scene.u_ids
        filtered = session.execute(
            select(ANNOTATIONS.c.id).where(
                ANNOTATIONS.c.project_id == uuid.UUID(scene.project), readable(ANNOTATIONS, ts_caller)
            )
        )
        assert {str(i) for i in filtered.scalars()} == scene.ts_ids | scene.u_ids
    with one_connection.transaction(u_caller) as session:
        connection = session.connection()
        assert backend(connection) == pid, "the pool handed out another connection"
        now = settings_now(connection)
        assert now["clearance"] == "0" and now["sci"] == "-" and now["user_id"] == str(u_caller.user_id)
        assert project_rows(connection, scene.project) == scene.u_ids
        hidden = connection.execute(
            text("SELECT count(*) FROM annotations WHERE id = ANY(:ids)"),
            {"ids": [uuid.UUID(i) for i in scene.ts_ids]},
        )
        assert hidden.scalar_one() == 0
        filtered = session.execute(
            select(ANNOTATIONS.c.id).where(
                ANNOTATIONS.c.project_id == uuid.UUID(scene.project), readable(ANNOTATIONS, u_caller)
            )
        )
        assert {str(i) for i in filtered.scalars()} == scene.u_ids
    # A fresh transaction on the same connection carries no context at all...
    with one_connection.service_engine.connect() as connection:
        assert backend(connection) == pid
        assert set(settings_now(connection).values()) == {""}
        # ...and touching any marked table without one is an error, not a default.
        for table in MARKED_TABLES:
            with pytest.raises(DBAPIError, match=r"context .* is not set"):
                connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            connection.rollback()
        with pytest.raises(DBAPIError, match="is not set"):
            connection.execute(
                text("INSERT INTO projects (name, label_schema, classification) VALUES ('x', '{}', 0)")
            )
        connection.rollback()


def test_a_brand_new_connection_has_no_context_and_refuses_marked_tables(
    one_connection: Database, scene: Scene
) -> None:
    one_connection.service_engine.dispose()
    with one_connection.service_engine.connect() as connection:
        assert set(settings_now(connection).values()) == {None}
        for table in MARKED_TABLES:
            with pytest.raises(DBAPIError, match="is not set"):
                connection.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).all()
            connection.rollback()


def test_a_context_set_for_one_transaction_does_not_survive_a_rollback(
    test_db: pg.TestDatabase, one_connection: Database, scene: Scene
) -> None:
    ts_caller = caller(test_db, scene.ts_user)
    with pytest.raises(RuntimeError), one_connection.transaction(ts_caller) as session:
        assert len(project_rows(session.connection(), scene.project)) == 5
        raise RuntimeError("the request failed half-way")
    with one_connection.service_engine.connect() as connection:
        assert set(settings_now(connection).values()) == {""}
        with pytest.raises(DBAPIError, match="is not set"):
            project_rows(connection, scene.project)


def test_ts_request_then_u_request_through_the_api_on_one_connection(
    test_db: pg.TestDatabase, one_connection: Database, data_dir: Path, scene: Scene
) -> None:
    settings = Settings(
        allowed_hosts=["testserver"],  # the test client's Host
        data_dir=data_dir,
        token_signing_key=SecretStr("p" * 48),
        password_scheme=PasswordScheme.PBKDF2_SHA256,
    )
    pids: list[int] = []

    @event.listens_for(one_connection.service_engine, "checkout")
    def remember(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        pids.append(dbapi_connection.info.backend_pid)

    app = create_app(build_state(settings, one_connection))
    with TestClient(app, raise_server_exceptions=False) as api:
        ts = token(api, scene.ts_user)
        u = token(api, scene.u_user)
        url = f"/api/v1/annotations?project={scene.project}&limit=1000"
        seen = api.get(url, headers=ts).json()
        assert {a["id"] for a in seen["items"]} == scene.ts_ids | scene.u_ids
        hidden = sorted(scene.ts_ids)[0]
        assert api.get(f"/api/v1/annotations/{hidden}", headers=ts).status_code == 200
        seen = api.get(url, headers=u).json()
        assert {a["id"] for a in seen["items"]} == scene.u_ids and seen["total"] == len(scene.u_ids)
        assert api.get(f"/api/v1/annotations/{hidden}", headers=u).status_code == 404
        # A TOP SECRET request that fails in the database, then an UNCLASSIFIED one: still nothing leaks.
        bad = api.get(f"/api/v1/chips?project={scene.project}&offset={10**20}", headers=ts)
        assert bad.status_code in (422, 503), bad.text
        chips = api.get(f"/api/v1/chips?project={scene.project}", headers=u).json()
        assert chips["total"] == 2
        seen = api.get(url, headers=u).json()
        assert {a["id"] for a in seen["items"]} == scene.u_ids
    assert len(set(pids)) == 1 and len(pids) >= 8, pids
