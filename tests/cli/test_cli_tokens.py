"""`geo-label tokens create|list|revoke` as the host's operator runs them (issue 22): real subprocesses
against the test database; the token is printed once and works as a Basic password until revoked."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from geo_label import access_tokens
from tests.cli.test_cli_workflow import as_json, one_line_error
from tests.pg import TestDatabase
from tests.world import make_user, unique

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "geo_label", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=180)


@pytest.fixture(scope="module")
def env(test_db: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    values["PYTHONPATH"] = os.pathsep.join([str(REPO), values.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    values["GEO_LABEL_DATABASE_URL"] = test_db.owner_url
    values["GEO_LABEL_AUDIT_KEY"] = test_db.database.audit_key.decode()
    values["GEO_LABEL_DATA_DIR"] = str(tmp_path_factory.mktemp("cli-tokens"))
    values["GEO_LABEL_ACCESS_TOKEN_MAX_DAYS"] = "30"
    return values


def test_create_list_and_revoke(test_db: TestDatabase, env: dict[str, str]) -> None:
    user = make_user(test_db, unique("analyst"), "S")
    expires = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%d")
    made = as_json(
        run(env, "tokens", "create", user, "--label", "QGIS ws-042", "--expires", expires, "--json")
    )
    assert set(made) == {"id", "token", "label", "expires"} and made["label"] == "QGIS ws-042"
    assert made["expires"].startswith(expires)
    with test_db.database.sessions() as session, session.begin():
        _user, token_id = access_tokens.authenticate(session, user, made["token"])
    assert str(token_id) == made["id"]

    default = as_json(run(env, "tokens", "create", user, "--label", "script", "--json"))
    lifetime = datetime.fromisoformat(default["expires"]) - datetime.now(UTC)
    assert timedelta(days=29) < lifetime <= timedelta(days=30)  # GEO_LABEL_ACCESS_TOKEN_MAX_DAYS

    listed = as_json(run(env, "tokens", "list", user, "--json"))
    assert [t["id"] for t in listed] == [default["id"], made["id"]]
    assert all("token" not in t and t["state"] == "active" for t in listed)

    revoked = run(env, "tokens", "revoke", user, made["id"])
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    states = {t["id"]: t["state"] for t in as_json(run(env, "tokens", "list", user, "--json"))}
    assert states == {made["id"]: "revoked", default["id"]: "active"}
    with test_db.database.sessions() as session, session.begin(), pytest.raises(Exception, match="revoked"):
        access_tokens.authenticate(session, user, made["token"])


def test_bad_input_is_one_line(test_db: TestDatabase, env: dict[str, str]) -> None:
    user = make_user(test_db, unique("analyst"), "U")
    too_late = (datetime.now(UTC) + timedelta(days=31)).strftime("%Y-%m-%d")
    assert "within 30 days" in one_line_error(
        run(env, "tokens", "create", user, "--label", "x", "--expires", too_late)
    )
    assert "not found" in one_line_error(run(env, "tokens", "create", unique("nobody"), "--label", "x"))
    assert "not found" in one_line_error(run(env, "tokens", "revoke", user, str(uuid.uuid4())))
