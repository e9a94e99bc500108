"""MARKINGS.md section 8: an export for a partner-nation recipient drops NOFORN and non-releasable features,
and its banner is computed on exactly that subset; the check passes for the caller AND the recipient."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from access_control import parse_marking, releasable_to, roll_up
from tests import pg
from tests.service.test_svc_access_support import (
    MARKINGS,
    NO_STORE,
    S_NF,
    S_REL,
    TS_SI,
    C,
    MixedWorld,
    U,
    assert_same_answer,
    audit_rows,
    headers,
    mixed_world,
)
from tests.world import make_user, unique

EXPORT = "/api/v1/projects/{}/export"


@pytest.fixture(scope="module")
def world(
    client: TestClient, test_db: pg.TestDatabase, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> MixedWorld:
    if EXPORT.format("{project_id}") not in client.app.openapi()["paths"]:  # type: ignore[attr-defined]
        pytest.skip("no export route in this version of the API")
    return mixed_world(client, test_db, data_dir, tmp_path_factory)


@pytest.fixture(scope="module")
def officer(test_db: pg.TestDatabase) -> str:
    """A foreign disclosure officer cleared for everything, who reviews the releases (issue 15)."""
    return make_user(
        test_db, unique("fdo"), "TS//SI/TK", cui_ok=True, roles=frozenset({"foreign_disclosure_officer"})
    )


def export(
    client: TestClient, world: MixedWorld, role: str, recipient: str | None = None, officer: str | None = None
) -> dict[str, Any]:
    """What ``role`` exports; for a partner nation, the release ``officer`` approved (issue 15: an export for
    a recipient is a request, reviewed, then downloaded by its requester)."""
    url = EXPORT.format(world.project) + (f"?recipient={recipient}" if recipient else "")
    auth = headers(client, world.users[role])
    response = client.get(url, headers=auth)
    if response.status_code == 202:
        assert officer is not None, "an export for a partner nation is reviewed"
        request = response.json()["release_request"]
        decided = client.post(
            f"/api/v1/releases/{request}/approve",
            headers=headers(client, officer),
            json={"justification": "releasable"},
        )
        assert decided.status_code == 200, decided.text
        response = client.get(f"/api/v1/releases/{request}/download", headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == NO_STORE
    body: dict[str, Any] = json.loads(response.content)
    assert response.headers["x-geolabel-banner"] == body["banner"]
    assert body["feature_count"] == len(body["features"])  # streamed: counted at the end of the file
    return body


def features_by_key(world: MixedWorld, body: dict[str, Any]) -> dict[str, set[str]]:
    key_of = {a: key for key, ids in world.annotations.items() for a in ids}
    out: dict[str, set[str]] = {}
    for feature in body["features"]:
        out.setdefault(key_of[feature["id"]], set()).add(feature["id"])
    return out


def expected_banner(body: dict[str, Any]) -> str:
    portions = [parse_marking(f["properties"]["marking_banner"]) for f in body["features"]]
    return roll_up(portions).banner()


@pytest.mark.parametrize(
    ("role", "recipient", "keys", "banner"),
    [
        ("ts_usa", "GBR", {U, S_REL}, "SECRET//REL TO USA, GBR"),
        ("ts_usa", "FRA", {U}, "UNCLASSIFIED"),
        ("ts_usa", "AUS", {U}, "UNCLASSIFIED"),
        ("s_usa", "GBR", {U, S_REL}, "SECRET//REL TO USA, GBR"),
        ("s_gbr", None, {U, S_REL}, "SECRET//REL TO USA, GBR"),
        ("s_gbr", "FRA", {U}, "UNCLASSIFIED"),  # the caller may read S//REL TO USA, GBR; FRA may not
        ("c_usa", "GBR", {U}, "UNCLASSIFIED"),  # CONFIDENTIAL has no REL TO: not releasable
        ("u_usa", None, {U}, "UNCLASSIFIED"),
        ("ts_fra", "GBR", {U}, "UNCLASSIFIED"),
    ],
)
def test_export_for_a_recipient_keeps_only_what_both_may_read(
    client: TestClient,
    world: MixedWorld,
    officer: str,
    role: str,
    recipient: str | None,
    keys: set[str],
    banner: str,
) -> None:
    body = export(client, world, role, recipient, officer)
    got = features_by_key(world, body)
    assert set(got) == keys
    for key in keys:
        assert got[key] == set(world.annotations[key])
    assert body["banner"] == banner == expected_banner(body)
    for feature in body["features"]:
        marking = parse_marking(feature["properties"]["marking_banner"])
        assert feature["properties"]["marking"] == marking.portion()
        if recipient:
            assert releasable_to(marking, recipient) and not marking.is_noforn


def test_export_without_a_recipient_is_everything_the_caller_reads(
    client: TestClient, world: MixedWorld
) -> None:
    body = export(client, world, "s_usa")
    assert set(features_by_key(world, body)) == {U, C, S_REL, S_NF}
    assert body["banner"] == "SECRET//NOFORN" == expected_banner(body)
    everything = export(client, world, "ts_usa")
    assert set(features_by_key(world, everything)) == set(MARKINGS)
    assert everything["banner"] == "TOP SECRET//SI//NOFORN"


def test_an_export_is_audited_with_its_banner_and_count(
    client: TestClient, test_db: pg.TestDatabase, world: MixedWorld
) -> None:
    before = len(audit_rows(test_db, "export", item_id=world.project))
    ended_before = len(audit_rows(test_db, "export.end", item_id=world.project))
    body = export(client, world, "ts_usa")
    rows = audit_rows(test_db, "export", item_id=world.project)
    assert len(rows) == before + 1  # before the first byte left: banner and recipient
    details = rows[-1]["details"]
    assert details["recipient"] is None and details["streamed"] is True
    assert details["banner"] == body["banner"] == "TOP SECRET//SI//NOFORN"
    assert rows[-1]["classification"] == 3 and rows[-1]["sci_controls"] == ["SI"]
    ended = audit_rows(test_db, "export.end", item_id=world.project)  # once it was all sent: the count
    assert len(ended) == ended_before + 1
    assert ended[-1]["details"]["count"] == body["feature_count"] and ended[-1]["details"]["complete"] is True
    assert ended[-1]["details"]["banner"] == body["banner"]


def test_exporting_a_hidden_project_reads_like_a_missing_one(client: TestClient, world: MixedWorld) -> None:
    auth = headers(client, world.users["outsider"])
    for query in ("", "?recipient=GBR"):
        hidden = client.get(EXPORT.format(world.project) + query, headers=auth)
        assert hidden.status_code == 404
        assert_same_answer(hidden, client.get(EXPORT.format(uuid.uuid4()) + query, headers=auth))


def test_a_usa_recipient_receives_everything_the_caller_reads(client: TestClient, world: MixedWorld) -> None:
    """USA is always a valid recipient (access_control.releasable_to): acting for it removes nothing."""
    body = export(client, world, "s_usa", "USA")
    assert set(features_by_key(world, body)) == {U, C, S_REL, S_NF}
    assert body["banner"] == "SECRET//NOFORN"
    assert TS_SI not in features_by_key(world, body)
