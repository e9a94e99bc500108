"""Regression: creating a project never tells an admin that a project they may not read has that name.

Names were unique across the database, so an admin cleared SECRET who chose the name of a TOP SECRET project
got 409 "name taken". Names are now unique per marking (migration 0005)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from geo_label.errors import InvalidInputError
from geo_label.projects import find_project
from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import caller, make_user, unique


def _create(client: TestClient, headers: dict[str, str], name: str, marking: str) -> int:
    body = {"name": name, "marking": marking, "classes": [{"name": "vehicle"}]}
    return client.post("/api/v1/projects", headers=headers, json=body).status_code


def test_a_hidden_projects_name_is_no_conflict(client: TestClient, test_db: TestDatabase) -> None:
    top = make_user(test_db, unique("ts-admin"), "TS", "USA", roles=frozenset({"admin"}))
    secret = make_user(test_db, unique("s-admin"), "S", "USA", roles=frozenset({"admin"}))
    name = unique("operation")
    assert _create(client, token(client, top), name, "TOP SECRET") == 201

    assert _create(client, token(client, secret), name, "SECRET") == 201  # no hint of the TOP SECRET one
    assert _create(client, token(client, secret), name, "SECRET") == 409  # its own marking: a real conflict
    listed = client.get("/api/v1/projects", headers=token(client, secret)).json()["items"]
    assert [p["marking"] for p in listed if p["name"] == name] == ["SECRET"]

    with test_db.as_caller(caller(test_db, secret)) as session:
        assert find_project(session, caller(test_db, secret), name)["name"] == name
    with (
        test_db.as_caller(caller(test_db, top)) as session,
        pytest.raises(InvalidInputError, match="give its id"),
    ):
        find_project(session, caller(test_db, top), name)  # both are visible to the TS admin: ambiguous


def test_reading_a_classified_project_is_audited(client: TestClient, test_db: TestDatabase) -> None:
    admin = make_user(test_db, unique("ts-admin"), "TS", "USA", roles=frozenset({"admin"}))
    officer = make_user(test_db, unique("so"), "TS", "USA", roles=frozenset({"security_officer"}))
    headers = token(client, admin)
    name = unique("audited")
    assert _create(client, headers, name, "SECRET") == 201
    project = next(
        p for p in client.get("/api/v1/projects", headers=headers).json()["items"] if p["name"] == name
    )
    assert client.get(f"/api/v1/projects/{project['id']}", headers=headers).status_code == 200
    assert client.get(f"/ogc/collections/{project['id']}", headers=headers).status_code == 200

    records = client.get("/api/v1/audit?action=project.read&limit=20", headers=token(client, officer)).json()
    mine = [r for r in records["items"] if r["actor"] == admin]
    assert len(mine) == 3 and all("SECRET" in r["marking"] for r in mine)  # the roll-up of what was read
    assert [r["details"].get("via") for r in mine] == ["ogc", None, None]  # newest first
