"""Server-side sessions (issue 20): sign-out ends the session, tokens renew while it lives, idleness and its
absolute end stop it, and sign-in cannot be turned against users from another origin or by a flood."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from fastapi.testclient import TestClient
from sqlalchemy import text

from geo_label.auth import issue_session_token
from tests import pg
from tests.service.test_svc_access_support import audit_rows
from tests.world import PASSWORD, make_user, unique

AUTH = "/api/v1/auth"


def sign_in(client: TestClient, username: str, **headers: str) -> Any:
    return client.post(f"{AUTH}/token", json={"username": username, "password": PASSWORD}, headers=headers)


def bearer(answer: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def session_row(test_db: pg.TestDatabase, session_id: str) -> Any:
    with test_db.as_system() as session:
        return session.execute(text("SELECT * FROM sessions WHERE id = :id"), {"id": session_id}).one()


def test_sign_in_opens_a_session_and_sign_out_ends_it(client: TestClient, test_db: pg.TestDatabase) -> None:
    user = make_user(test_db, unique("analyst"), "S")
    answer = sign_in(client, user)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["expires_in"] == 300 and body["session"]["idle_seconds"] == 15 * 60
    auth = bearer(answer)
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    assert client.post(f"{AUTH}/logout", headers=auth).status_code == 204
    after = client.get("/api/v1/me", headers=auth)
    assert after.status_code == 401 and after.json()["code"] == "session_ended"
    assert client.post(f"{AUTH}/logout", headers=auth).status_code == 204, "signing out twice is no error"
    row = session_row(test_db, body["session"]["id"])
    assert row.end_reason == "logout" and row.ended_at is not None
    assert client.post(f"{AUTH}/renew", headers=auth, json={"idle_seconds": 0}).status_code == 401


def test_admins_and_officers_have_the_shorter_idle_limit(
    client: TestClient, test_db: pg.TestDatabase
) -> None:
    admin = make_user(test_db, unique("adm"), "S", roles=frozenset({"admin"}))
    assert sign_in(client, admin).json()["session"]["idle_seconds"] == 10 * 60


def test_a_lapsed_token_is_renewed_while_its_session_lives(
    client: TestClient, test_db: pg.TestDatabase
) -> None:
    user = make_user(test_db, unique("labeler"), "U")
    answer = sign_in(client, user)
    state = client.app.state.geo_label  # type: ignore[attr-defined]
    session_id = uuid.UUID(answer.json()["session"]["id"])
    lapsed, _ = issue_session_token(
        uuid.UUID(client.get("/api/v1/me", headers=bearer(answer)).json()["id"]),
        session_id,
        state.settings,
        state.signing_key,
        now=datetime.now(UTC) - timedelta(minutes=6),
    )
    old = {"Authorization": f"Bearer {lapsed}"}
    assert client.get("/api/v1/me", headers=old).status_code == 401, "an expired token reads nothing"
    renewed = client.post(f"{AUTH}/renew", headers=old, json={"idle_seconds": 30})
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["session"]["id"] == str(session_id)
    assert client.get("/api/v1/me", headers=bearer(renewed)).status_code == 200


def set_last_activity(test_db: pg.TestDatabase, session_id: str, ago: str) -> None:
    with pg.psycopg.connect(pg.libpq(test_db.owner_url), autocommit=True) as owner:
        owner.execute(
            "UPDATE sessions SET last_activity_at = now() - %s::interval WHERE id = %s", (ago, session_id)
        )


def test_an_untouched_tab_does_not_keep_a_session_alive(client: TestClient, test_db: pg.TestDatabase) -> None:
    """A renewal says how long ago the user last gave input: an open tab nobody touches renews its token,
    but the session's last activity stays where the input was, and the idle limit ends it from there."""
    user = make_user(test_db, unique("labeler"), "U")
    answer = sign_in(client, user)
    session_id = answer.json()["session"]["id"]
    set_last_activity(test_db, session_id, "10 minutes")
    before = session_row(test_db, session_id).last_activity_at
    untouched = client.post(f"{AUTH}/renew", headers=bearer(answer), json={"idle_seconds": 600})
    assert untouched.status_code == 200
    moved = session_row(test_db, session_id).last_activity_at - before
    assert moved < timedelta(seconds=1), "no input since: the last activity stays where it was"
    touched = client.post(f"{AUTH}/renew", headers=bearer(untouched), json={"idle_seconds": 2})
    assert touched.status_code == 200 and session_row(test_db, session_id).last_activity_at > before
    set_last_activity(test_db, session_id, "15 minutes 1 second")
    ended = client.post(f"{AUTH}/renew", headers=bearer(touched), json={"idle_seconds": 0})
    assert ended.status_code == 401 and ended.json()["code"] == "session_ended"
    assert session_row(test_db, session_id).end_reason == "idle"


def test_a_session_past_its_idle_limit_or_its_end_is_over(
    client: TestClient, test_db: pg.TestDatabase
) -> None:
    user = make_user(test_db, unique("labeler"), "U")
    for column, reason in (("last_activity_at", "idle"), ("ends_at", "expired")):
        answer = sign_in(client, user)
        session_id = answer.json()["session"]["id"]
        with pg.psycopg.connect(pg.libpq(test_db.owner_url), autocommit=True) as owner:
            owner.execute(
                f"UPDATE sessions SET {column} = now() - interval '16 minutes' WHERE id = %s", (session_id,)
            )
        refused = client.get("/api/v1/me", headers=bearer(answer))
        assert refused.status_code == 401 and refused.json()["code"] == "session_ended"
        row = session_row(test_db, session_id)
        assert row.end_reason == reason and row.ended_at is not None
    ends = [r["details"]["reason"] for r in audit_rows(test_db, "session.end") if r["details"]["user_id"]]
    assert {"idle", "expired"} <= set(ends)


def test_another_origin_cannot_sign_in_or_lock_anyone_out(
    client: TestClient, test_db: pg.TestDatabase
) -> None:
    user = make_user(test_db, unique("target"), "S")
    for _ in range(5):
        forged = client.post(
            f"{AUTH}/token",
            data={"username": user, "password": "guess"},
            headers={"Origin": "https://attacker.example"},
        )
        assert forged.status_code == 403
    with pg.psycopg.connect(pg.libpq(test_db.owner_url)) as owner:
        failed = owner.execute("SELECT failed_logins FROM users WHERE username = %s", (user,)).fetchone()
    assert failed == (0,), "no failure was counted: the request never reached the account"
    same = sign_in(client, user, Origin="http://testserver")
    assert same.status_code == 200, "GeoLabel's own pages sign in"


def test_a_long_user_name_is_refused_before_any_check_or_audit(
    client: TestClient, test_db: pg.TestDatabase
) -> None:
    name = "n" * 65
    refused = client.post(f"{AUTH}/token", json={"username": name, "password": "x"})
    assert refused.status_code == 422
    assert not audit_rows(test_db, "login.failure", actor_name=name)


class FullPool:
    async def acquire(self) -> None:
        await anyio.sleep(60)  # never free within the tarpit

    def release(self) -> None:  # pragma: no cover - never acquired
        raise AssertionError


def test_a_full_password_pool_answers_429_with_retry_after(
    client: TestClient, test_db: pg.TestDatabase
) -> None:
    user = make_user(test_db, unique("analyst"), "U")
    state = client.app.state.geo_label  # type: ignore[attr-defined]
    pool, state.password_slots = state.password_slots, FullPool()
    try:
        busy = sign_in(client, user)
    finally:
        state.password_slots = pool
    assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
    assert sign_in(client, user).status_code == 200


def test_a_source_that_keeps_failing_is_slowed(client: TestClient) -> None:
    """After 10 failures from one address, the next try waits (held, then 429 with Retry-After): the source
    is slowed to a trickle before it could lock many accounts."""

    def attempt() -> tuple[int, float]:
        started = time.perf_counter()
        code = client.post(f"{AUTH}/token", json={"username": unique("ghost"), "password": "x"}).status_code
        return code, time.perf_counter() - started

    first = [attempt()[0] for _ in range(10)]
    assert first == [401] * 10
    code, held = attempt()
    assert code == 429 and held >= 0.5, "held until its delay is over (at most a second) before the refusal"


def test_a_preflight_from_another_origin_is_refused(client: TestClient) -> None:
    """The UI signs in with JSON, which a browser sends across origins only after a CORS preflight: GeoLabel
    grants none, so a page of another origin never gets to send it."""
    preflight = client.options(
        f"{AUTH}/token",
        headers={
            "Origin": "https://attacker.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code >= 400
    assert "access-control-allow-origin" not in preflight.headers
