"""Sign-in and the caller's attributes: an unknown user and a wrong password look the same; lock-out holds
even against the right password; every failure is audited; a deactivated account's token stops working, and a
revoked clearance (or membership) takes effect on the very next request with the SAME token."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests import pg
from tests.service.conftest import token
from tests.service.test_svc_access_support import (
    S_NF,
    TS_SI,
    U,
    assert_same_answer,
    audit_rows,
    create_annotation,
    headers,
    officer_pair,
    owner_connection,
    set_clearance,
    small_image,
)
from tests.world import PASSWORD, add_member, ingest, make_project, make_user, unique

LOCKOUT_ATTEMPTS = 3  # the client fixture's settings


def sign_in(client: TestClient, username: str, password: str) -> Response:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def login_state(test_db: pg.TestDatabase, username: str) -> tuple[int, Any]:
    with owner_connection(test_db) as connection:
        row = connection.execute(
            "SELECT failed_logins, locked_until FROM users WHERE username = %s", (username,)
        ).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def failures(test_db: pg.TestDatabase, username: str) -> list[str]:
    return [r["details"]["reason"] for r in audit_rows(test_db, "login.failure", actor_name=username)]


@pytest.fixture(scope="module")
def officer(test_db: pg.TestDatabase) -> str:
    return make_user(test_db, unique("so"), "TS//SI/TK", roles=frozenset({"admin", "security_officer"}))


def test_unknown_user_and_wrong_password_give_the_same_answer(
    client: TestClient, test_db: pg.TestDatabase
) -> None:
    user = make_user(test_db, unique("who"), "S")
    ghost = unique("ghost")
    wrong = sign_in(client, user, "not the password at all")
    unknown = sign_in(client, ghost, "not the password at all")
    assert wrong.status_code == 401
    assert_same_answer(wrong, unknown)
    assert wrong.json() == {
        "code": "unauthenticated",
        "detail": "incorrect username or password, or the account is locked",
    }
    assert failures(test_db, user) == ["wrong password"]
    assert failures(test_db, ghost) == ["unknown user"]


def test_lock_out_after_repeated_failures_even_with_the_right_password(
    client: TestClient, test_db: pg.TestDatabase
) -> None:
    user = make_user(test_db, unique("lock"), "S")
    reference = sign_in(client, unique("ghost"), "x")
    for attempt in range(1, LOCKOUT_ATTEMPTS + 1):
        response = sign_in(client, user, f"wrong-{attempt}")
        assert_same_answer(response, reference)
        assert login_state(test_db, user)[0] == attempt
    assert login_state(test_db, user)[1] is not None, "the account should be locked"
    locked = sign_in(client, user, PASSWORD)
    assert_same_answer(locked, reference)
    # The lock-out itself is audited at once; the failures around it from this source are audited one by one
    # up to three a minute, the rest in a summary (tests/security/test_sec_throttle.py).
    assert failures(test_db, user) == ["wrong password"] * (LOCKOUT_ATTEMPTS - 1)
    assert len(audit_rows(test_db, "login.lockout", actor_name=user)) == 1
    # The lock is not extended by tries while locked.
    until = login_state(test_db, user)[1]
    assert_same_answer(sign_in(client, user, "wrong again"), reference)
    assert login_state(test_db, user)[1] == until


def test_a_success_resets_the_failure_count(client: TestClient, test_db: pg.TestDatabase) -> None:
    user = make_user(test_db, unique("reset"), "S")
    for _ in range(LOCKOUT_ATTEMPTS - 1):
        assert sign_in(client, user, "wrong").status_code == 401
    assert sign_in(client, user, PASSWORD).status_code == 200
    assert login_state(test_db, user) == (0, None)
    assert [r["actor_name"] for r in audit_rows(test_db, "login.success", actor_name=user)] == [user]


def test_a_deactivated_account_is_refused_on_the_next_request(
    client: TestClient, test_db: pg.TestDatabase, officer: str
) -> None:
    user = make_user(test_db, unique("leaver"), "S")
    auth = token(client, user)
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    done = client.post(
        f"/api/v1/users/{user}/deactivate",
        headers=headers(client, officer),
        json={"reason": "left the program"},
    )
    assert done.status_code == 204, done.text
    refused = client.get("/api/v1/me", headers=auth)
    assert refused.status_code == 401
    assert refused.json()["code"] == "session_ended", "deactivation ended the session (issue 20)"
    assert client.get("/api/v1/projects", headers=auth).status_code == 401
    # Without the password a deactivated account answers like an unknown one; with it, its holder is told
    # since when, by which role and why, and how to ask for a review (issue 15: no silent lock-out).
    assert_same_answer(sign_in(client, user, "not the password"), sign_in(client, unique("ghost"), PASSWORD))
    told = sign_in(client, user, PASSWORD)
    assert told.status_code == 403, told.text
    detail = told.json()["detail"]
    assert "deactivated on" in detail and "by an administrator: left the program" in detail
    assert "ask for a review" in detail
    assert audit_rows(test_db, "login.refused.deactivated", actor_name=user)
    records = audit_rows(test_db, "user.deactivate", item_type="user")
    assert [r["actor_name"] for r in records if r["details"]["username"] == user] == [officer]
    assert [r["details"]["reason"] for r in records if r["details"]["username"] == user] == [
        "left the program"
    ]
    no_reason = client.post(f"/api/v1/users/{user}/deactivate", headers=headers(client, officer), json={})
    assert no_reason.status_code == 422


@pytest.fixture
def cleared_member(
    client: TestClient, test_db: pg.TestDatabase, data_dir: Path, tmp_path: Path
) -> dict[str, Any]:
    project = make_project(test_db, U)
    user = make_user(test_db, unique("rev"), "TS//SI/TK", "USA", cui_ok=True)
    add_member(test_db, project, user)
    image = ingest(test_db, project, small_image(tmp_path, 500), data_dir, U)
    auth = token(client, user)
    chip = client.get(f"/api/v1/chips?image={image}", headers=auth).json()["items"][0]
    made = {}
    for index, marking in enumerate((U, S_NF, TS_SI)):
        response = create_annotation(client, auth, chip, index=index, marking=marking)
        assert response.status_code == 201, response.text
        made[marking] = response.json()["id"]
    return {"project": str(project), "user": user, "auth": auth, "annotations": made}


def visible(client: TestClient, member: dict[str, Any]) -> set[str]:
    url = f"/api/v1/annotations?project={member['project']}&limit=1000"
    body = client.get(url, headers=member["auth"]).json()
    assert body["total"] == len(body["items"])
    return {a["id"] for a in body["items"]}


@pytest.fixture(scope="module")
def officers(test_db: pg.TestDatabase) -> tuple[str, str]:
    return officer_pair(test_db)


def test_a_revoked_clearance_takes_effect_on_the_next_request_with_the_same_token(
    client: TestClient, cleared_member: dict[str, Any], officers: tuple[str, str]
) -> None:
    member, made = cleared_member, cleared_member["annotations"]
    auth, so = member["auth"], officers
    assert visible(client, member) == set(made.values())
    top = f"/api/v1/annotations/{made[TS_SI]}"
    assert client.get(top, headers=auth).status_code == 200

    set_clearance(client, so, member["user"], clearance="U", citizenship="USA")
    assert visible(client, member) == {made[U]}
    assert_same_answer(
        client.get(top, headers=auth), client.get(f"/api/v1/annotations/{uuid.uuid4()}", headers=auth)
    )
    assert client.get("/api/v1/me", headers=auth).json()["clearance"] == "UNCLASSIFIED"
    # Nor can the same token still write at the old level.
    chip_id = client.get(f"/api/v1/annotations/{made[U]}", headers=auth).json()["chip_id"]
    chip = client.get(f"/api/v1/chips/{chip_id}", headers=auth).json()
    refused = create_annotation(client, auth, chip, index=8, marking="SECRET//NOFORN")
    assert refused.status_code == 422 and "above your own access" in refused.json()["detail"]

    set_clearance(client, so, member["user"], clearance="TS//SI/TK", citizenship="GBR", cui_ok=True)
    assert visible(client, member) == {made[U]}, "NOFORN and TS//SI (no REL) are not for a GBR citizen"
    set_clearance(client, so, member["user"], clearance="TS//TK", citizenship="USA")
    assert visible(client, member) == {made[U], made[S_NF]}, "TS//SI needs the SI access"
    set_clearance(client, so, member["user"], clearance="TS//SI", citizenship="USA")
    assert visible(client, member) == set(made.values())


def test_an_expired_clearance_reads_nothing_from_the_next_request(
    client: TestClient, cleared_member: dict[str, Any], officers: tuple[str, str]
) -> None:
    member, so = cleared_member, officers
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    set_clearance(
        client, so, member["user"], clearance="TS//SI/TK", citizenship="USA", clearance_expires=past
    )
    assert visible(client, member) == set(), "rule 1: an expired clearance reads nothing, not even U"
    assert client.get(f"/api/v1/projects/{member['project']}", headers=member["auth"]).status_code == 404
    future = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    set_clearance(
        client, so, member["user"], clearance="TS//SI/TK", citizenship="USA", clearance_expires=future
    )
    assert visible(client, member) == set(member["annotations"].values())


def test_a_removed_membership_takes_effect_on_the_next_request(
    client: TestClient, cleared_member: dict[str, Any], officer: str
) -> None:
    member = cleared_member
    url = f"/api/v1/projects/{member['project']}/members/{member['user']}"
    assert client.delete(url, headers=headers(client, officer)).status_code == 204
    assert visible(client, member) == set()
    project = client.get(f"/api/v1/projects/{member['project']}", headers=member["auth"])
    assert_same_answer(project, client.get(f"/api/v1/projects/{uuid.uuid4()}", headers=member["auth"]))
    chips = client.get(f"/api/v1/chips?project={member['project']}", headers=member["auth"]).json()
    assert chips["total"] == 0 and chips["items"] == []
