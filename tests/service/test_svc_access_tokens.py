"""Read-only access tokens over HTTP Basic (issue 22): what QGIS and GDAL as Debian 12 ships them can send."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_label import access_tokens, users
from tests.pg import TestDatabase
from tests.service.test_svc_access_support import (
    MixedWorld,
    audit_rows,
    headers,
    ids,
    inner_geometry,
    mixed_world,
    officer_pair,
    set_clearance,
)
from tests.world import PASSWORD, add_member, make_user, unique

HTTPS = "https://testserver"  # Basic is accepted over HTTPS (or from this host) only


def basic(username: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()}


def new_token(client: TestClient, username: str, **body: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/me/tokens", headers=headers(client, username), json={"label": "QGIS", **body}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def ogc_items(client: TestClient, project: str, auth: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(f"{HTTPS}/ogc/collections/{project}/items?limit=1000", headers=auth)
    assert response.status_code == 200, response.text
    return list(response.json()["features"])


@pytest.fixture
def world(
    client: TestClient, test_db: TestDatabase, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> MixedWorld:
    return mixed_world(client, test_db, data_dir, tmp_path_factory)


@pytest.mark.parametrize("role", ["ts_usa", "s_gbr", "u_usa", "outsider"])
def test_a_token_reads_exactly_what_its_account_may(client: TestClient, world: MixedWorld, role: str) -> None:
    username = world.users[role]
    token = new_token(client, username)
    assert token["token"].startswith("glt_") and set(token) == {"id", "token", "label", "expires"}
    auth = basic(username, token["token"])
    if role == "outsider":  # no need-to-know: the collection is not there for them
        response = client.get(f"{HTTPS}/ogc/collections/{world.project}/items", headers=auth)
        assert response.status_code == 404
        return
    assert set(ids(ogc_items(client, world.project, auth))) == world.visible_annotations(role)
    listed = client.get(f"{HTTPS}/api/v1/annotations?project={world.project}&limit=1000", headers=auth)
    assert listed.status_code == 200 and set(ids(listed.json()["items"])) == world.visible_annotations(role)


def test_refusals_are_401_with_a_basic_challenge(
    client: TestClient, test_db: TestDatabase, world: MixedWorld
) -> None:
    username = world.users["u_usa"]
    url = f"{HTTPS}/ogc/collections/{world.project}/items"
    token = new_token(client, username)["token"]
    for auth in (
        {},  # nothing: QGIS and GDAL learn to send Basic from the challenge
        basic(username, PASSWORD),  # the account password is never accepted this way
        basic(username, token[:-2] + "xx"),
        basic(world.users["c_usa"], token),  # another account's name
        {"Authorization": "Basic not-base64!"},
    ):
        response = client.get(url, headers=auth)
        assert response.status_code == 401, (auth, response.text)
        assert response.headers["www-authenticate"] == 'Basic realm="GeoLabel"'
    # The web UI's API keeps its Bearer challenge (a Basic one would open the browser's own dialog).
    assert client.get("/api/v1/me").headers["www-authenticate"] == "Bearer"
    refused = audit_rows(test_db, "token.refused", actor_name=username)
    assert len(refused) == 2 and all(token not in str(r["details"]) for r in refused)


def test_revoked_expired_and_deactivated_act_at_once(
    client: TestClient, test_db: TestDatabase, world: MixedWorld
) -> None:
    username = make_user(test_db, unique("desk"), "S")
    first, second = new_token(client, username), new_token(client, username, label="script")
    auth = basic(username, first["token"])
    url = f"{HTTPS}/ogc/collections"
    assert client.get(url, headers=auth).status_code == 200
    mine = headers(client, username)
    assert client.delete(f"/api/v1/me/tokens/{first['id']}", headers=mine).status_code == 204
    assert client.get(url, headers=auth).status_code == 401
    listed = {t["id"]: t for t in client.get("/api/v1/me/tokens", headers=mine).json()["items"]}
    assert listed[first["id"]]["state"] == "revoked" and listed[second["id"]]["state"] == "active"
    assert "token" not in listed[second["id"]]

    past = datetime.now(UTC) - timedelta(days=2)
    with test_db.as_system() as session:
        expired = access_tokens.create_token(
            session,
            session.info["caller"],
            username=username,
            label="old",
            max_days=90,
            now=past,
            expires_at=past + timedelta(days=1),
        )
    assert client.get(url, headers=basic(username, expired.token)).status_code == 401

    still = basic(username, second["token"])
    assert client.get(url, headers=still).status_code == 200
    with test_db.as_system() as session:
        users.set_active(
            session, session.info["caller"], username=username, active=False, reason="left the program"
        )
    assert client.get(url, headers=still).status_code == 401


def test_a_token_never_writes_nor_administers(
    client: TestClient, test_db: TestDatabase, world: MixedWorld
) -> None:
    username = world.users["ts_usa"]
    auth = basic(username, new_token(client, username)["token"])
    chip = world.chips["UNCLASSIFIED"][0]
    feature = {
        "chip_id": chip["id"],
        "class": "vehicle",
        "geometry": inner_geometry(chip["geometry"], 0, "vehicle"),
    }
    for method, path, body in (
        ("POST", "/api/v1/annotations", feature),
        ("POST", "/api/v1/me/tokens", {"label": "another"}),
        ("GET", "/api/v1/me/tokens", None),
        ("GET", "/api/v1/users", None),
        ("GET", "/api/v1/me", None),
        ("GET", "/api/v1/audit", None),
    ):
        response = client.request(method, f"{HTTPS}{path}", headers=auth, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert "only reads" in response.json()["detail"]
    # Signing in takes the password, never a token.
    signin = client.post("/api/v1/auth/token", data={"username": username, "password": "glt_whatever"})
    assert signin.status_code == 401
    denied = audit_rows(test_db, "access.denied", actor_name=username)
    assert denied and all("access_token" in r["details"] for r in denied[-6:])


def test_basic_needs_https_except_from_this_host(client: TestClient, world: MixedWorld) -> None:
    username = world.users["u_usa"]
    auth = basic(username, new_token(client, username)["token"])
    plain = client.get("http://testserver/ogc/collections", headers=auth)  # the test client is not loopback
    assert plain.status_code == 401 and "HTTPS" in plain.json()["detail"]
    local = TestClient(client.app, base_url="http://testserver", client=("127.0.0.1", 50000))
    assert local.get("/ogc/collections", headers=auth).status_code == 200


def test_reads_with_a_token_are_audited_with_it(
    client: TestClient, test_db: TestDatabase, world: MixedWorld
) -> None:
    username = world.users["c_usa"]
    token = new_token(client, username)
    assert audit_rows(test_db, "token.create", actor_name=username)[-1]["details"]["token_id"] == token["id"]
    ogc_items(client, world.project, basic(username, token["token"]))
    read = audit_rows(test_db, "annotation.read", actor_name=username)
    reads = [r for r in read if r["details"].get("access_token")]
    assert reads and {r["details"]["access_token"] for r in reads} == {token["id"]}


def test_lifetime_is_bounded_and_labels_checked(client: TestClient, world: MixedWorld) -> None:
    mine = headers(client, world.users["u_usa"])
    too_long = (datetime.now(UTC) + timedelta(days=91)).isoformat()
    for body in ({"label": ""}, {"label": "x" * 101}, {"label": "ok", "expires": too_long}):
        response = client.post("/api/v1/me/tokens", headers=mine, json=body)
        assert response.status_code == 422, response.text
    default = client.post("/api/v1/me/tokens", headers=mine, json={"label": "ok"}).json()
    lifetime = datetime.fromisoformat(default["expires"]) - datetime.now(UTC)
    assert timedelta(days=89) < lifetime <= timedelta(days=90)


def test_only_officers_manage_another_accounts_tokens(
    client: TestClient, test_db: TestDatabase, world: MixedWorld
) -> None:
    owner = make_user(test_db, unique("owner"), "U")
    officer = make_user(test_db, unique("so"), "TS", roles=frozenset({"security_officer"}))
    token = new_token(client, owner)
    peer = headers(client, world.users["u_usa"])
    assert client.get(f"/api/v1/users/{owner}/tokens", headers=peer).status_code == 403
    assert client.delete(f"/api/v1/users/{owner}/tokens/{token['id']}", headers=peer).status_code == 403
    assert client.delete(f"/api/v1/me/tokens/{token['id']}", headers=peer).status_code == 404  # not theirs
    revoked = client.delete(f"/api/v1/users/{owner}/tokens/{token['id']}", headers=headers(client, officer))
    assert revoked.status_code == 204
    assert client.get(f"{HTTPS}/ogc/collections", headers=basic(owner, token["token"])).status_code == 401
    assert audit_rows(test_db, "token.revoke", actor_name=officer)


def test_a_clearance_change_acts_on_the_token_at_once(
    client: TestClient, test_db: TestDatabase, world: MixedWorld
) -> None:
    """The token carries no access of its own: the account's, read on every request."""
    username = make_user(test_db, unique("lowered"), "S")
    add_member(test_db, uuid.UUID(world.project), username, "labeler")
    auth = basic(username, new_token(client, username)["token"])
    assert set(ids(ogc_items(client, world.project, auth))) == world.visible_annotations("s_usa")
    set_clearance(client, officer_pair(test_db), username, clearance="U", citizenship="USA")
    assert set(ids(ogc_items(client, world.project, auth))) == world.visible_annotations("u_usa")
