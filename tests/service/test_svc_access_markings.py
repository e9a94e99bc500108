"""MARKINGS.md section 8 (and 4): no write-up (nothing above the writer's own access), no write-down (nothing
below the sources' floor, on create or on PATCH); lowering below the floor is the security officer's
downgrade, with a justification, audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests import pg
from tests.service.test_svc_access_support import (
    S_NF,
    S_REL,
    U,
    audit_rows,
    create_annotation,
    headers,
    small_image,
)
from tests.world import add_member, ingest, make_project, make_user, unique


@dataclass
class Setting:
    project: str
    users: dict[str, str]
    chips: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def setting(
    client: TestClient,
    test_db: pg.TestDatabase,
    data_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Setting:
    scenes = tmp_path_factory.mktemp("scenes")
    project = make_project(test_db, U)
    people = {
        "s_usa": make_user(test_db, unique("sus"), "S", "USA"),
        "s_gbr": make_user(test_db, unique("sgb"), "S", "GBR"),
        "u_usa": make_user(test_db, unique("uus"), "U", "USA"),
        "officer": make_user(
            test_db, unique("so"), "TS//SI/TK", cui_ok=True, roles=frozenset({"admin", "security_officer"})
        ),
        "second_officer": make_user(
            test_db, unique("so2"), "TS//SI/TK", cui_ok=True, roles=frozenset({"security_officer"})
        ),
    }
    for name, username in people.items():
        add_member(test_db, project, username, "reviewer" if name.endswith("officer") else "labeler")
    chips = {}
    for seed, marking in enumerate((U, S_REL, S_NF)):
        image = ingest(test_db, project, small_image(scenes, 200 + seed), data_dir, marking)
        listed = client.get(f"/api/v1/chips?image={image}", headers=headers(client, people["officer"]))
        chips[marking] = listed.json()["items"][0]
    return Setting(project=str(project), users=people, chips=chips)


def _total(client: TestClient, setting: Setting) -> int:
    auth = headers(client, setting.users["officer"])
    return int(client.get(f"/api/v1/annotations?project={setting.project}", headers=auth).json()["total"])


@pytest.mark.parametrize(
    ("writer", "chip", "marking"),
    [
        ("u_usa", U, "CONFIDENTIAL"),  # level
        ("s_usa", U, "TOP SECRET//SI"),  # level and SCI
        ("s_usa", S_REL, "SECRET//SI"),  # SCI the writer lacks
        ("s_usa", U, "UNCLASSIFIED//FOUO"),  # a control the writer lacks (cui_ok)
        ("s_gbr", U, S_NF),  # NOFORN: a foreign writer could not read it back
        ("s_gbr", U, "SECRET"),  # classified without REL TO: not releasable to GBR
        ("s_gbr", U, "SECRET//REL TO USA, AUS"),  # a REL TO list without GBR
    ],
)
def test_write_up_is_refused(
    client: TestClient, setting: Setting, writer: str, chip: str, marking: str
) -> None:
    before = _total(client, setting)
    auth = headers(client, setting.users[writer])
    response = create_annotation(client, auth, setting.chips[chip], marking=marking)
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"code", "detail"} and body["code"] == "invalid"
    assert "above your own access" in body["detail"]
    assert _total(client, setting) == before


@pytest.mark.parametrize(
    ("chip", "marking"),
    [
        (S_NF, U),
        (S_NF, "CONFIDENTIAL//NOFORN"),
        (S_NF, S_REL),  # wider release than NOFORN
        (S_REL, U),
        (S_REL, "SECRET//REL TO USA, FRA, GBR"),  # releasable to a country the chip is not
        (S_REL, "CONFIDENTIAL//REL TO USA, GBR"),
    ],
)
def test_write_down_is_refused(client: TestClient, setting: Setting, chip: str, marking: str) -> None:
    before = _total(client, setting)
    auth = headers(client, setting.users["s_usa"])
    response = create_annotation(client, auth, setting.chips[chip], marking=marking)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid" and "lower than" in body["detail"]
    assert set(body) == {"code", "detail"}
    assert _total(client, setting) == before


def test_the_floor_and_raises_above_it_are_accepted(client: TestClient, setting: Setting) -> None:
    auth = headers(client, setting.users["s_usa"])
    for chip, marking, stored in (
        (S_REL, None, S_REL),
        (S_REL, S_REL, S_REL),
        (S_REL, S_NF, S_NF),
        (S_NF, None, S_NF),
        (U, None, U),
        (U, "SECRET//REL TO USA, GBR", S_REL),
    ):
        response = create_annotation(client, auth, setting.chips[chip], index=7, marking=marking)
        assert response.status_code == 201, response.text
        assert response.json()["marking"] == stored


def test_a_patch_may_raise_but_never_lower_below_the_floor_or_above_the_writer(
    client: TestClient, setting: Setting
) -> None:
    auth = headers(client, setting.users["s_usa"])
    created = create_annotation(client, auth, setting.chips[S_REL], index=11)
    assert created.status_code == 201, created.text
    ident = created.json()["id"]
    url = f"/api/v1/annotations/{ident}"
    for marking in (U, "CONFIDENTIAL//REL TO USA, GBR", "SECRET//REL TO USA, FRA, GBR"):
        response = client.patch(url, headers={**auth, "If-Match": '"1"'}, json={"marking": marking})
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "invalid" and "lower than" in response.json()["detail"]
    for marking in ("TOP SECRET//REL TO USA, GBR", "SECRET//SI//REL TO USA, GBR"):
        response = client.patch(url, headers={**auth, "If-Match": '"1"'}, json={"marking": marking})
        assert response.status_code == 422, response.text
        assert "above your own access" in response.json()["detail"]
    current = client.get(url, headers=auth)
    assert current.json()["marking"] == S_REL and current.headers["etag"] == '"1"'
    history = client.get(f"{url}/history", headers=auth).json()["items"]
    assert [(v["operation"], v["marking"]) for v in history] == [("insert", S_REL)]

    raised = client.patch(url, headers={**auth, "If-Match": '"1"'}, json={"marking": S_NF})
    assert raised.status_code == 200, raised.text
    assert raised.json()["marking"] == S_NF and raised.json()["version"] == 2
    # The GBR labeler, who could read it at version 1, no longer can: and it looks missing.
    gbr = headers(client, setting.users["s_gbr"])
    assert client.get(url, headers=gbr).status_code == 404


def test_two_security_officers_downgrade_with_a_justification_and_it_is_audited(
    client: TestClient, test_db: pg.TestDatabase, setting: Setting
) -> None:
    labeler = headers(client, setting.users["s_usa"])
    officer = headers(client, setting.users["officer"])
    second = headers(client, setting.users["second_officer"])
    created = create_annotation(client, labeler, setting.chips[S_NF], index=13)
    assert created.status_code == 201
    ident = created.json()["id"]
    url = f"/api/v1/annotations/{ident}/downgrade"
    reason = "Declassified under review 2024-0042 by the originator."
    body = {"marking": U, "justification": reason}

    # Only a security officer; never without a real justification or the version read.
    refused = client.post(url, headers={**labeler, "If-Match": '"1"'}, json=body)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    for justification in ("", "too short", " " * 20):
        response = client.post(
            url, headers={**officer, "If-Match": '"1"'}, json={"marking": U, "justification": justification}
        )
        assert response.status_code == 422, (justification, response.text)
    assert client.post(url, headers=officer, json=body).status_code == 428
    assert client.post(url, headers={**officer, "If-Match": '"9"'}, json=body).status_code == 412
    u_reader = headers(client, setting.users["u_usa"])
    assert client.get(f"/api/v1/annotations/{ident}", headers=u_reader).status_code == 404

    # Issue 15: two security officers. The first proposes: nothing changes yet.
    proposed = client.post(url, headers={**officer, "If-Match": '"1"'}, json=body)
    assert proposed.status_code == 202, proposed.text
    proposal = proposed.json()
    assert (proposal["state"], proposal["marking"], proposal["to_marking"]) == ("pending", S_NF, U)
    assert client.get(f"/api/v1/annotations/{ident}", headers=u_reader).status_code == 404
    decide = f"/api/v1/downgrades/{proposal['id']}"
    assert client.post(f"{decide}/approve", headers=officer).status_code == 403  # not their own
    assert client.post(f"{decide}/approve", headers=labeler).status_code == 403
    pending = client.get("/api/v1/downgrades", headers=second).json()
    assert proposal["id"] in [p["id"] for p in pending]

    done = client.post(f"{decide}/approve", headers=second, json={"comment": "confirmed with the originator"})
    assert done.status_code == 200 and done.json()["state"] == "approved", done.text
    assert client.post(f"{decide}/deny", headers=second).status_code == 409
    lowered = client.get(f"/api/v1/annotations/{ident}", headers=u_reader)
    assert lowered.status_code == 200 and lowered.json()["marking"] == U and lowered.json()["version"] == 2

    # Audited: the proposal and the act, through the API for a security officer and in the table itself.
    listed = client.get("/api/v1/audit?action=annotation.downgrade&limit=1000", headers=officer).json()
    mine = [r for r in listed["items"] if r["item_id"] == ident]
    assert len(mine) == 1
    record = mine[0]
    assert record["actor_id"] == str(_user_id(client, second))
    assert record["details"] == {
        "from": S_NF,
        "to": U,
        "justification": reason,
        "proposal": proposal["id"],
        "proposed_by": str(_user_id(client, officer)),
        "comment": "confirmed with the originator",
    }
    assert record["marking"] == S_NF and record["project_id"] == setting.project
    rows = audit_rows(test_db, "annotation.downgrade", item_id=ident)
    assert len(rows) == 1 and rows[0]["details"]["justification"] == reason
    assert rows[0]["classification"] == 2 and rows[0]["dissemination"] == ["NOFORN"]
    assert len(audit_rows(test_db, "annotation.downgrade.propose", item_id=ident)) == 1
    verified = client.get("/api/v1/audit/verify", headers=officer).json()
    assert verified == {"intact": True, "problems": []}
    history = client.get(f"/api/v1/annotations/{ident}/history", headers=officer).json()["items"]
    assert [v["marking"] for v in history] == [S_NF, U]


def test_a_security_officer_cannot_downgrade_to_a_marking_above_their_own_access(
    client: TestClient, test_db: pg.TestDatabase, setting: Setting
) -> None:
    labeler = headers(client, setting.users["s_usa"])
    created = create_annotation(client, labeler, setting.chips[S_NF], index=17)
    ident = created.json()["id"]
    response = client.post(
        f"/api/v1/annotations/{ident}/downgrade",
        headers={**headers(client, setting.users["officer"]), "If-Match": '"1"'},
        json={"marking": "SECRET//HCS//NOFORN", "justification": "a justification long enough"},
    )
    assert response.status_code == 422 and "above your own access" in response.json()["detail"]
    assert audit_rows(test_db, "annotation.downgrade", item_id=ident) == []


def _user_id(client: TestClient, auth: dict[str, str]) -> uuid.UUID:
    return uuid.UUID(client.get("/api/v1/me", headers=auth).json()["id"])
