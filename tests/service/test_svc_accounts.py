"""Accounts people can run (issue 20): change one's password, an admin's reset with a one-time password,
unlock, deactivate and reactivate, end sessions; the same from the host's CLI; one rule for user names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests import pg
from tests.service.test_svc_access_support import audit_rows, headers
from tests.world import PASSWORD, make_user, unique

API = "/api/v1"
NEW_PASSWORD = "a fresh and unusual passphrase 77"


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post(f"{API}/auth/token", json={"username": username, "password": password})


def bearer(answer: Any) -> dict[str, str]:
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture(scope="module")
def admin(test_db: pg.TestDatabase) -> str:
    return make_user(test_db, unique("adm"), "S", roles=frozenset({"admin", "security_officer"}))


def test_changing_ones_password_ends_every_session(client: TestClient, test_db: pg.TestDatabase) -> None:
    user = make_user(test_db, unique("analyst"), "U")
    first, second = bearer(sign_in(client, user)), bearer(sign_in(client, user))
    url = f"{API}/me/password"
    wrong = client.post(url, headers=first, json={"current_password": "nope", "new_password": NEW_PASSWORD})
    assert wrong.status_code == 422 and "current password" in wrong.json()["detail"]
    weak = client.post(url, headers=first, json={"current_password": PASSWORD, "new_password": "short"})
    assert weak.status_code == 422 and "at least" in weak.json()["detail"]
    done = client.post(url, headers=first, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert done.status_code == 204, done.text
    for token in (first, second):
        assert client.get(f"{API}/me", headers=token).status_code == 401
    assert sign_in(client, user).status_code == 401
    assert sign_in(client, user, NEW_PASSWORD).status_code == 200
    assert [r["item_type"] for r in audit_rows(test_db, "user.password.change")][-1] == "user"


def test_a_reset_hands_over_a_one_time_password_to_be_changed_first(
    client: TestClient, test_db: pg.TestDatabase, admin: str
) -> None:
    user = make_user(test_db, unique("forgetful"), "U")
    before = bearer(sign_in(client, user))
    reset = client.post(f"{API}/users/{user}/reset-password", headers=headers(client, admin))
    assert reset.status_code == 200, reset.text
    one_time = reset.json()["one_time_password"]
    assert client.get(f"{API}/me", headers=before).status_code == 401, "the reset ended the sessions"
    answer = sign_in(client, user, one_time)
    assert answer.json()["must_change_password"] is True
    auth = bearer(answer)
    blocked = client.get(f"{API}/projects", headers=auth)
    assert blocked.status_code == 403 and "new password" in blocked.json()["detail"]
    assert client.get(f"{API}/me", headers=auth).json()["must_change_password"] is True
    body = {"current_password": one_time, "new_password": NEW_PASSWORD}
    assert client.post(f"{API}/me/password", headers=auth, json=body).status_code == 204
    after = bearer(sign_in(client, user, NEW_PASSWORD))
    assert client.get(f"{API}/projects", headers=after).status_code == 200
    own = client.post(f"{API}/users/{admin}/reset-password", headers=headers(client, admin))
    assert own.status_code == 403, "no one resets their own password"


def test_an_officer_unlocks_a_locked_account(
    client: TestClient, test_db: pg.TestDatabase, admin: str
) -> None:
    user = make_user(test_db, unique("locked"), "U")
    for _ in range(3):
        assert sign_in(client, user, "wrong").status_code == 401
    assert sign_in(client, user).status_code == 401, "locked"
    listed = {u["username"]: u for u in client.get(f"{API}/users", headers=headers(client, admin)).json()}
    assert listed[user]["locked_until"] is not None, "officers see the lock-out"
    assert client.post(f"{API}/users/{user}/unlock", headers=headers(client, admin)).status_code == 204
    assert sign_in(client, user).status_code == 200
    assert audit_rows(test_db, "user.unlock", item_type="user")


def test_deactivation_ends_sessions_and_reactivation_restores_the_account(
    client: TestClient, test_db: pg.TestDatabase, admin: str
) -> None:
    user = make_user(test_db, unique("leaver"), "U")
    auth = bearer(sign_in(client, user))
    deactivated = client.post(
        f"{API}/users/{user}/deactivate", headers=headers(client, admin), json={"reason": "contract ended"}
    )
    assert deactivated.status_code == 204
    assert client.get(f"{API}/me", headers=auth).status_code == 401
    assert sign_in(client, user).status_code == 403
    assert client.post(f"{API}/users/{user}/reactivate", headers=headers(client, admin)).status_code == 204
    assert sign_in(client, user).status_code == 200


def test_an_officer_ends_all_sessions_of_an_account(
    client: TestClient, test_db: pg.TestDatabase, admin: str
) -> None:
    user = make_user(test_db, unique("suspect"), "U")
    tokens = [bearer(sign_in(client, user)) for _ in range(2)]
    assert client.post(f"{API}/users/{user}/end-sessions", headers=headers(client, admin)).status_code == 204
    assert all(client.get(f"{API}/me", headers=t).status_code == 401 for t in tokens)
    labeler = bearer(sign_in(client, make_user(test_db, unique("peer"), "U")))
    assert client.post(f"{API}/users/{user}/end-sessions", headers=labeler).status_code == 403


def test_the_hosts_cli_runs_accounts_too(
    client: TestClient, test_db: pg.TestDatabase, tmp_path: Path
) -> None:
    user = make_user(test_db, unique("cli"), "U")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env.update(
        GEO_LABEL_DATABASE_URL=test_db.owner_url,
        GEO_LABEL_DATA_DIR=str(tmp_path / "data"),
        GEO_LABEL_AUDIT_KEY=test_db.database.audit_key.decode(),
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "geo_label", "users", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    for _ in range(3):
        sign_in(client, user, "wrong")
    assert sign_in(client, user).status_code == 401
    assert cli("unlock", user).returncode == 0
    auth = bearer(sign_in(client, user))
    assert cli("end-sessions", user).returncode == 0
    assert client.get(f"{API}/me", headers=auth).status_code == 401
    reset = cli("reset-password", user)
    assert reset.returncode == 0, reset.stderr
    one_time = reset.stdout.split("one-time password ")[1].split()[0]
    assert sign_in(client, user, one_time).json()["must_change_password"] is True
    bad = cli("add", "bad name!", "--clearance", "U", "--citizenship", "USA")
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "letters, digits" in bad.stderr, "the CLI applies the API's rule for user names"
