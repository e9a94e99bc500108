"""Who may grant access, and how (issue 17 items 2, 3, 4 and 8; docs/security.md, "Granting access").

Access grants are the security officer's alone, never to themselves, never beyond their own access; widening
anyone's access takes a second officer; lowering it takes effect at once. Every refusal is audited."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from geo_label.db.models import User
from tests import pg
from tests.service.test_svc_access_support import audit_rows, headers
from tests.world import add_member, make_project, make_user, unique

USERS = "/api/v1/users"


@pytest.fixture(scope="module")
def officers(test_db: pg.TestDatabase) -> dict[str, str]:
    """Two TOP SECRET officers, a SECRET officer, and an admin who is no officer."""
    everything = frozenset({"admin", "security_officer"})
    return {
        "ts_a": make_user(test_db, unique("so-a"), "TS//SI/TK", cui_ok=True, roles=everything),
        "ts_b": make_user(test_db, unique("so-b"), "TS//SI/TK", cui_ok=True, roles=everything),
        "secret": make_user(test_db, unique("so-s"), "S", roles=everything),
        "admin": make_user(test_db, unique("adm"), "S", roles=frozenset({"admin"})),
    }


def stored(test_db: pg.TestDatabase, username: str) -> User:
    with test_db.as_system() as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one()
        session.expunge(user)
        return user


def put_clearance(client: TestClient, who: str, username: str, **body: Any) -> Any:
    return client.put(f"{USERS}/{username}/clearance", headers=headers(client, who), json=body)


def refusals(test_db: pg.TestDatabase, actor: str) -> list[dict[str, Any]]:
    return [r for r in audit_rows(test_db, "access.denied") if r["actor_name"] == actor]


def test_a_security_officer_cannot_raise_their_own_clearance(
    client: TestClient, test_db: pg.TestDatabase, officers: dict[str, str]
) -> None:
    me = officers["secret"]
    before = len(refusals(test_db, me))
    response = put_clearance(client, me, me, clearance="TS//HCS/SI/TK", citizenship="USA", cui_ok=True)
    assert response.status_code == 403, response.text
    assert "own clearance" in response.json()["detail"]
    assert stored(test_db, me).clearance == 2 and not stored(test_db, me).cui_ok
    assert len(refusals(test_db, me)) == before + 1, "the refusal is audited"
    lower = put_clearance(client, me, me, clearance="C")
    assert lower.status_code == 403, "not even lowering: one's own access is another officer's to change"


def test_no_officer_grants_beyond_their_own_access(
    client: TestClient, test_db: pg.TestDatabase, officers: dict[str, str]
) -> None:
    analyst = make_user(test_db, unique("analyst"), "U")
    for clearance in ("TS", "S//SI"):
        refused = put_clearance(client, officers["secret"], analyst, clearance=clearance)
        assert refused.status_code == 403 and "beyond your own access" in refused.json()["detail"]
    refused = put_clearance(client, officers["secret"], analyst, clearance="S", cui_ok=True)
    assert refused.status_code == 403, "a SECRET officer without CUI approval cannot grant it"
    create = {"username": unique("new"), "clearance": "TS", "citizenship": "USA"}
    assert client.post(USERS, headers=headers(client, officers["secret"]), json=create).status_code == 403
    assert stored(test_db, analyst).clearance == 0


def test_an_admin_who_is_not_an_officer_grants_no_access(
    client: TestClient, test_db: pg.TestDatabase, officers: dict[str, str]
) -> None:
    admin = headers(client, officers["admin"])
    for extra in ({"cui_ok": True}, {"clearance": "C"}, {"roles": ["security_officer"]}):
        body = {"username": unique("acct"), "citizenship": "USA", **extra}
        refused = client.post(USERS, headers=admin, json=body)
        assert refused.status_code == 403, (extra, refused.text)
    plain = client.post(USERS, headers=admin, json={"username": unique("acct"), "citizenship": "USA"})
    assert plain.status_code == 201, plain.text
    assert plain.json()["clearance"] == "UNCLASSIFIED" and not plain.json()["cui_ok"]


def test_widening_access_takes_a_second_officer(
    client: TestClient, test_db: pg.TestDatabase, officers: dict[str, str]
) -> None:
    analyst = make_user(test_db, unique("analyst"), "S")
    proposed = put_clearance(
        client, officers["ts_a"], analyst, clearance="TS//SI", justification="joins the SI cell"
    )
    assert proposed.status_code == 202, proposed.text
    grant = proposed.json()["pending_grant"]
    assert proposed.json()["clearance"] == "SECRET", "nothing changes before the second officer approves"
    assert stored(test_db, analyst).clearance == 2

    pending = client.get(f"{USERS}/grants", headers=headers(client, officers["ts_b"])).json()
    assert [g["username"] for g in pending if g["id"] == grant] == [analyst]
    own = client.post(f"{USERS}/grants/{grant}/approve", headers=headers(client, officers["ts_a"]))
    assert own.status_code == 403, "the proposer cannot approve their own proposal"
    beyond = client.post(f"{USERS}/grants/{grant}/approve", headers=headers(client, officers["secret"]))
    assert beyond.status_code == 403, "nor can an officer below the access granted"
    approved = client.post(f"{USERS}/grants/{grant}/approve", headers=headers(client, officers["ts_b"]))
    assert approved.status_code == 200, approved.text
    assert approved.json()["clearance"] == "TOP SECRET//SI"
    again = client.post(f"{USERS}/grants/{grant}/approve", headers=headers(client, officers["ts_b"]))
    assert again.status_code == 409
    actions = [
        r["action"]
        for r in audit_rows(test_db, "user.grant.propose") + audit_rows(test_db, "user.grant.approve")
        if r["details"].get("grant") == grant
    ]
    assert sorted(actions) == ["user.grant.approve", "user.grant.propose"]


def test_a_new_account_with_access_starts_at_the_baseline_until_approved(
    client: TestClient, test_db: pg.TestDatabase, officers: dict[str, str]
) -> None:
    body = {"username": unique("acct"), "citizenship": "USA", "clearance": "S", "cui_ok": True}
    created = client.post(USERS, headers=headers(client, officers["ts_a"]), json=body)
    assert created.status_code == 202, created.text
    assert created.json()["clearance"] == "UNCLASSIFIED" and not created.json()["cui_ok"]
    denied = client.post(
        f"{USERS}/grants/{created.json()['pending_grant']}/deny", headers=headers(client, officers["ts_b"])
    )
    assert denied.status_code == 200 and denied.json()["clearance"] == "UNCLASSIFIED"


def test_lowering_access_takes_effect_at_once(
    client: TestClient, test_db: pg.TestDatabase, officers: dict[str, str]
) -> None:
    analyst = make_user(test_db, unique("analyst"), "TS//SI/TK", cui_ok=True)
    lowered = put_clearance(client, officers["secret"], analyst, clearance="S", cui_ok=False)
    assert lowered.status_code == 200, lowered.text
    assert stored(test_db, analyst).clearance == 2 and not stored(test_db, analyst).cui_ok


def test_an_omitted_expiry_is_kept_and_removing_it_is_a_widening(
    client: TestClient, test_db: pg.TestDatabase, officers: dict[str, str]
) -> None:
    analyst = make_user(test_db, unique("analyst"), "S")
    expiry = (datetime.now(UTC) + timedelta(days=90)).replace(microsecond=0)
    lowered = put_clearance(
        client, officers["ts_a"], analyst, clearance="S", clearance_expires=expiry.isoformat()
    )
    assert lowered.status_code == 200, "an expiry where there was none narrows access"
    kept = put_clearance(client, officers["ts_a"], analyst, clearance="C")
    assert kept.status_code == 200 and stored(test_db, analyst).clearance_expires == expiry
    removed = put_clearance(client, officers["ts_a"], analyst, clearance="C", clearance_expires=None)
    assert removed.status_code == 202, "removing an expiry widens access: a second officer approves it"


def test_the_cli_keeps_an_expiry_unless_told_to_remove_it(test_db: pg.TestDatabase, tmp_path: Path) -> None:
    analyst = make_user(test_db, unique("analyst"), "S")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env.update(
        GEO_LABEL_DATABASE_URL=test_db.owner_url,
        GEO_LABEL_DATA_DIR=str(tmp_path),
        GEO_LABEL_AUDIT_KEY=test_db.database.audit_key.decode(),
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "geo_label", "users", "set-clearance", analyst, *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    assert cli("S", "--expires", "2031-01-01").returncode == 0
    assert cli("TS").returncode == 0
    assert stored(test_db, analyst).clearance_expires == datetime(2031, 1, 1, tzinfo=UTC)
    assert cli("TS", "--no-expiry").returncode == 0
    assert stored(test_db, analyst).clearance_expires is None
    both = cli("TS", "--no-expiry", "--expires", "2031-01-01")
    assert both.returncode != 0 and len(both.stderr.strip().splitlines()) == 1
    changes = [
        r["details"] for r in audit_rows(test_db, "user.clearance") if r["details"]["username"] == analyst
    ]
    assert [c["after"]["expires"] for c in changes][-1] is None
    assert changes[-1]["before"]["expires"].startswith("2031-01-01")


def test_me_names_only_projects_the_caller_may_read_now(
    client: TestClient, test_db: pg.TestDatabase, officers: dict[str, str]
) -> None:
    top = make_project(test_db, "TOP SECRET")
    low = make_project(test_db, "UNCLASSIFIED")
    analyst = make_user(test_db, unique("analyst"), "TS")
    add_member(test_db, top, analyst)
    add_member(test_db, low, analyst, "reviewer")
    auth = headers(client, analyst)
    assert client.get("/api/v1/me", headers=auth).json()["projects"] == {
        str(top): "labeler",
        str(low): "reviewer",
    }
    assert put_clearance(client, officers["ts_a"], analyst, clearance="S").status_code == 200
    assert client.get("/api/v1/me", headers=auth).json()["projects"] == {str(low): "reviewer"}
    assert client.get(f"/api/v1/projects/{top}", headers=auth).status_code == 404
