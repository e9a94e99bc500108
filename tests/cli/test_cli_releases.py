"""`geo-label export --recipient` and `geo-label releases` as issue 15 fixes them (security runbooks are
written against them): real subprocesses against the test database."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.test_cli_workflow import as_json, one_line_error
from tests.pg import TestDatabase
from tests.release_world import RELEASABLE, ReleaseWorld, build_release_world

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Cli:
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "geo_label", *args]
        return subprocess.run(command, capture_output=True, text=True, env=self.env, cwd=REPO, timeout=180)


@pytest.fixture()
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-releases-data")


@pytest.fixture()
def release_world(test_db: TestDatabase, utm_image: Path, data_dir: Path) -> ReleaseWorld:
    return build_release_world(test_db, utm_image, data_dir)


@pytest.fixture()
def cli(test_db: TestDatabase, data_dir: Path) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["GEO_LABEL_DATABASE_URL"] = test_db.owner_url
    env["GEO_LABEL_AUDIT_KEY"] = test_db.database.audit_key.decode()
    env["GEO_LABEL_DATA_DIR"] = str(data_dir)
    return Cli(env)


def project_name(world: ReleaseWorld) -> str:
    with world.db.as_system() as session:
        from geo_label.projects import get_project

        return str(get_project(session, session.info["caller"], world.project)["name"])


def test_a_release_from_request_to_download(
    cli: Cli,
    release_world: ReleaseWorld,
    tmp_path: Path,
) -> None:
    world = release_world
    name = project_name(world)
    out = tmp_path / "for-gbr.geojson"
    asked = cli.run(
        "export", "--project", name, "--as", world.requester, "--recipient", "GBR", "-o", str(out)
    )
    assert asked.returncode == 0, asked.stderr
    words = asked.stdout.split()
    assert words[:2] == ["release", "request"] and words[3:] == ["awaiting", "review"]
    assert not out.exists(), "a release for a partner nation writes no file"
    request_id = words[2]

    summary = as_json(
        cli.run(
            "export", "--project", name, "--as", world.requester, "--recipient", "GBR", "-o", "x", "--json"
        )
    )
    assert summary["banner"] == RELEASABLE and summary["features"] == 2 and summary["release_request"]

    own = cli.run("releases", "approve", request_id, "--as", world.requester, "--justification", "fine")
    assert "foreign disclosure officer" in one_line_error(own)
    early = cli.run("releases", "download", request_id, "--as", world.requester, "-o", str(out))
    assert "not approved" in one_line_error(early) and not out.exists()

    pending = as_json(cli.run("releases", "list", "--as", world.officer, "--state", "pending", "--json"))
    assert {r["id"] for r in pending} >= {request_id, summary["release_request"]}
    shown = as_json(cli.run("releases", "show", request_id, "--as", world.officer, "--json"))
    assert shown["by_marking"] == {"UNCLASSIFIED": 1, RELEASABLE: 1} and shown["recipient"] == "GBR"

    approved = cli.run("releases", "approve", request_id, "--as", world.officer, "--justification", "checked")
    assert approved.returncode == 0 and "approved" in approved.stdout
    denied = cli.run(
        "releases", "deny", summary["release_request"], "--as", world.officer, "--justification", "no"
    )
    assert denied.returncode == 0 and "denied" in denied.stdout

    got = cli.run("releases", "download", request_id, "--as", world.requester, "-o", str(out))
    assert got.returncode == 0, got.stderr
    document = json.loads(out.read_text())
    assert document["banner"] == RELEASABLE and len(document["features"]) == 2
    assert hashlib.sha256(out.read_bytes()).hexdigest() in got.stdout
    refused = cli.run("releases", "download", summary["release_request"], "--as", world.requester, "-o", "y")
    assert "denied" in one_line_error(refused)
