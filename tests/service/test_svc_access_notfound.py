"""MARKINGS.md section 8: a hidden id and a missing id give the same 404 (status, headers and body bytes), for
reads, for annotating a chip, and for updates and deletes. Hidden three ways: by level, by release (foreign
reader) and by need-to-know (not a member)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from access_control import default_registry
from geo_label import users
from tests import pg
from tests.service.test_svc_access_support import (
    S_NF,
    TS_SI,
    VISIBLE,
    MixedWorld,
    U,
    assert_same_answer,
    audit_rows,
    create_annotation,
    headers,
    inner_geometry,
    mixed_world,
)
from tests.world import add_member, make_project, make_user, unique

#: (reader, a marking the reader may not read) in the world project: hidden by level, release, membership.
HIDERS = [("u_usa", TS_SI), ("s_gbr", S_NF), ("ts_fra", TS_SI), ("outsider", U)]


@pytest.fixture(scope="module")
def world(
    client: TestClient, test_db: pg.TestDatabase, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> MixedWorld:
    return mixed_world(client, test_db, data_dir, tmp_path_factory)


def missing() -> str:
    return str(uuid.uuid4())


def reads(item: str) -> dict[str, Callable[[TestClient, dict[str, str], str], Response]]:
    """Every read of a single ``item`` kind, by id."""
    paths = {
        "annotation": ["/api/v1/annotations/{}", "/api/v1/annotations/{}/history"],
        "chip": ["/api/v1/chips/{}", "/api/v1/chips/{}/preview"],
        "image": ["/api/v1/images/{}"],
        "project": ["/api/v1/projects/{}", "/api/v1/projects/{}/members"],
    }[item]
    return {
        path: (lambda client, auth, ident, path=path: client.get(path.format(ident), headers=auth))
        for path in paths
    }


@pytest.mark.parametrize(("reader", "marking"), HIDERS)
def test_hidden_content_reads_like_missing_content(
    client: TestClient, world: MixedWorld, reader: str, marking: str
) -> None:
    auth = headers(client, world.users[reader])
    assert marking not in VISIBLE[reader]
    hidden = {
        "annotation": world.annotations[marking][0],
        "chip": str(world.chips[marking][0]["id"]),
        "image": world.images[marking],
    }
    for item, ident in hidden.items():
        for path, read in reads(item).items():
            got = read(client, auth, ident)
            assert got.status_code == 404, (path, got.text)
            assert_same_answer(got, read(client, auth, missing()))
    # The owner of the content reads all of it: the ids above are real.
    owner = headers(client, world.users["ts_usa"])
    for item, ident in hidden.items():
        for path, read in reads(item).items():
            assert read(client, owner, ident).status_code == 200, path
    # Filtering a listing by a hidden chip or image finds as little as filtering by a missing one.
    for listing, name in (("annotations", "chip"), ("annotations", "image"), ("chips", "image")):
        ident = hidden[name]
        got = client.get(f"/api/v1/{listing}?{name}={ident}", headers=auth)
        assert got.json()["total"] == 0, (listing, name, got.json())
        assert_same_answer(got, client.get(f"/api/v1/{listing}?{name}={missing()}", headers=auth))
        assert client.get(f"/api/v1/{listing}?{name}={ident}", headers=owner).json()["total"] > 0


def test_hidden_projects_read_like_missing_projects(
    client: TestClient, test_db: pg.TestDatabase, world: MixedWorld
) -> None:
    """Hidden by membership (the world project for the outsider), by level (a TOP SECRET project, even for an
    admin cleared to SECRET), and by a clearance lowered after the membership was granted."""
    demoted = make_user(test_db, unique("demoted"), "S", "USA")
    secret = make_project(test_db, "SECRET")
    add_member(test_db, secret, demoted)
    with test_db.as_system() as session:
        access = users.Clearance.parse("U", citizenship="USA", registry=default_registry())
        users.set_clearance(session, session.info["caller"], username=demoted, clearance=access)
    admin = make_user(test_db, unique("adm"), "S", roles=frozenset({"admin", "security_officer"}))
    cases = [
        (world.users["outsider"], world.project),
        (admin, str(make_project(test_db, TS_SI))),
        (demoted, str(secret)),
    ]
    for username, project in cases:
        auth = headers(client, username)
        for path, read in reads("project").items():
            got = read(client, auth, project)
            assert got.status_code == 404, (username, path)
            assert_same_answer(got, read(client, auth, missing()))
        for ident in (project, missing()):
            assert all(p["id"] != ident for p in client.get("/api/v1/projects", headers=auth).json()["items"])
    # An admin managing members of a project it may not see gets the missing project's answer.
    auth = headers(client, admin)
    hidden_project = cases[1][1]
    body = {"username": demoted, "role": "labeler"}
    assert_same_answer(
        client.put(f"/api/v1/projects/{hidden_project}/members", headers=auth, json=body),
        client.put(f"/api/v1/projects/{missing()}/members", headers=auth, json=body),
    )
    assert_same_answer(
        client.delete(f"/api/v1/projects/{hidden_project}/members/{demoted}", headers=auth),
        client.delete(f"/api/v1/projects/{missing()}/members/{demoted}", headers=auth),
    )


@pytest.mark.parametrize(("reader", "marking"), HIDERS)
def test_annotating_a_hidden_chip_reads_like_a_missing_chip(
    client: TestClient, world: MixedWorld, reader: str, marking: str
) -> None:
    auth = headers(client, world.users[reader])
    chip = world.chips[marking][0]
    before = _count(client, world)
    for label_class, attributes in (("vehicle", {}), ("building", {"floors": 2})):
        hidden = create_annotation(client, auth, chip, label_class=label_class, attributes=attributes)
        absent = create_annotation(
            client, auth, {**chip, "id": missing()}, label_class=label_class, attributes=attributes
        )
        assert hidden.status_code == 404, hidden.text
        assert_same_answer(hidden, absent)
    # Marking requested, or a class the project lacks, or a geometry outside the chip: still the same answer.
    for extra in (
        {"marking": U},
        {"class": "no-such-class"},
        {"geometry": {"type": "Point", "coordinates": [0, 0]}},
    ):
        body = {
            "chip_id": str(chip["id"]),
            "class": "vehicle",
            "geometry": inner_geometry(chip["geometry"], 0, "vehicle"),
            **extra,
        }
        hidden = client.post("/api/v1/annotations", headers=auth, json=body)
        absent = client.post("/api/v1/annotations", headers=auth, json={**body, "chip_id": missing()})
        assert hidden.status_code == 404, hidden.text
        assert_same_answer(hidden, absent)
    assert _count(client, world) == before


@pytest.mark.parametrize(("reader", "marking"), HIDERS)
def test_updating_or_deleting_a_hidden_annotation_reads_like_a_missing_one(
    client: TestClient, world: MixedWorld, reader: str, marking: str
) -> None:
    auth = headers(client, world.users[reader])
    target = world.annotations[marking][0]
    patch = {"attributes": {}, "status": "submitted"}
    for if_match in ({}, {"If-Match": '"1"'}, {"If-Match": '"7"'}, {"If-Match": "garbage"}):
        h = {**auth, **if_match}
        assert_same_answer(
            client.patch(f"/api/v1/annotations/{target}", headers=h, json=patch),
            client.patch(f"/api/v1/annotations/{missing()}", headers=h, json=patch),
        )
        assert_same_answer(
            client.delete(f"/api/v1/annotations/{target}", headers=h),
            client.delete(f"/api/v1/annotations/{missing()}", headers=h),
        )
    hidden = client.patch(f"/api/v1/annotations/{target}", headers={**auth, "If-Match": '"1"'}, json=patch)
    assert hidden.status_code == 404
    # Nothing changed underneath.
    owner = headers(client, world.users["ts_usa"])
    current = client.get(f"/api/v1/annotations/{target}", headers=owner).json()
    assert current["version"] == 1 and current["status"] in ("draft", "submitted")
    history = client.get(f"/api/v1/annotations/{target}/history", headers=owner).json()["items"]
    assert [v["operation"] for v in history] == ["insert"]


def test_a_security_officer_cannot_downgrade_what_they_may_not_read(
    client: TestClient, test_db: pg.TestDatabase, world: MixedWorld
) -> None:
    officer = make_user(test_db, unique("so"), "S", "USA", roles=frozenset({"security_officer"}))
    add_member(test_db, uuid.UUID(world.project), officer, "reviewer")
    auth = {**headers(client, officer), "If-Match": '"1"'}
    body = {"marking": "UNCLASSIFIED", "justification": "released by the originator, ref 2024-17"}
    target = world.annotations[TS_SI][0]
    hidden = client.post(f"/api/v1/annotations/{target}/downgrade", headers=auth, json=body)
    assert hidden.status_code == 404
    assert_same_answer(
        hidden, client.post(f"/api/v1/annotations/{missing()}/downgrade", headers=auth, json=body)
    )
    owner = headers(client, world.users["ts_usa"])
    assert client.get(f"/api/v1/annotations/{target}", headers=owner).json()["marking"] == TS_SI


def test_history_of_a_deleted_hidden_annotation_reads_like_a_missing_one(
    client: TestClient, world: MixedWorld
) -> None:
    owner = headers(client, world.users["ts_usa"])
    created = create_annotation(client, owner, world.chips[U][1], index=55, marking=TS_SI)
    assert created.status_code == 201, created.text
    ident = created.json()["id"]
    deleted = client.delete(f"/api/v1/annotations/{ident}", headers={**owner, "If-Match": '"1"'})
    assert deleted.status_code == 204
    history = client.get(f"/api/v1/annotations/{ident}/history", headers=owner).json()["items"]
    assert [v["operation"] for v in history] == ["insert", "delete"]
    for reader in ("u_usa", "s_usa", "outsider"):
        auth = headers(client, world.users[reader])
        got = client.get(f"/api/v1/annotations/{ident}/history", headers=auth)
        assert got.status_code == 404
        assert_same_answer(got, client.get(f"/api/v1/annotations/{missing()}/history", headers=auth))


def test_history_of_a_reclassified_annotation_reads_like_a_missing_one(
    client: TestClient, world: MixedWorld
) -> None:
    """Issue 17 item 5: once raised above a reader's access, an annotation's lower versions tell nothing."""
    owner = headers(client, world.users["ts_usa"])
    created = create_annotation(client, owner, world.chips[U][1], index=56, marking=U)
    assert created.status_code == 201, created.text
    ident = created.json()["id"]
    reader = headers(client, world.users["u_usa"])
    assert client.get(f"/api/v1/annotations/{ident}/history", headers=reader).status_code == 200
    raised = client.patch(
        f"/api/v1/annotations/{ident}", headers={**owner, "If-Match": '"1"'}, json={"marking": TS_SI}
    )
    assert raised.status_code == 200, raised.text
    got = client.get(f"/api/v1/annotations/{ident}/history", headers=reader)
    assert got.status_code == 404
    assert_same_answer(got, client.get(f"/api/v1/annotations/{missing()}/history", headers=reader))
    history = client.get(f"/api/v1/annotations/{ident}/history", headers=owner).json()["items"]
    assert [v["marking"] for v in history] == [U, TS_SI]
    removed = client.delete(f"/api/v1/annotations/{ident}", headers={**owner, "If-Match": '"2"'})
    assert removed.status_code == 204, "the shared world's counts stay as other tests expect them"


def _count(client: TestClient, world: MixedWorld) -> int:
    owner = headers(client, world.users["ts_usa"])
    total: Any = client.get(f"/api/v1/annotations?project={world.project}&limit=1", headers=owner).json()
    return int(total["total"])


def test_the_history_of_a_single_classified_version_is_served_and_audited(
    client: TestClient, test_db: pg.TestDatabase, world: MixedWorld
) -> None:
    """Regression: auditing the read of a one-version history looked for an ``id`` column that versions do
    not have (they carry ``annotation_id``), and the request failed with a 500."""
    owner = headers(client, world.users["ts_usa"])
    created = create_annotation(client, owner, world.chips[U][0], index=66, marking=S_NF)
    ident = created.json()["id"]
    history = client.get(f"/api/v1/annotations/{ident}/history", headers=owner)
    assert history.status_code == 200, history.text
    assert [(v["operation"], v["marking"]) for v in history.json()["items"]] == [("insert", S_NF)]
    records = audit_rows(test_db, "annotation_version.read", item_id=ident)
    assert len(records) == 1 and records[0]["details"]["annotation_id"] == ident
    assert records[0]["classification"] == 2 and records[0]["dissemination"] == ["NOFORN"]
    deleted = client.delete(f"/api/v1/annotations/{ident}", headers={**owner, "If-Match": '"1"'})
    assert deleted.status_code == 204
