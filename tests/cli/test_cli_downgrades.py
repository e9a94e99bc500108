"""`geo-label downgrades propose|list|approve|deny` (issue 15): two security officers, from the host's CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli_workflow import as_json, one_line_error
from tests.pg import TestDatabase
from tests.release_world import build_release_world
from tests.world import add_member, make_user, unique

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_two_officers_lower_a_marking_from_the_command_line(
    test_db: TestDatabase, utm_image: Path, tmp_path: Path
) -> None:
    world = build_release_world(test_db, utm_image, tmp_path / "data")
    first, second = (
        make_user(test_db, unique(n), "TS//SI/TK", roles=frozenset({"security_officer"}))
        for n in ("so-a", "so-b")
    )
    for officer in (first, second):
        add_member(test_db, world.project, officer, "reviewer")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["GEO_LABEL_DATABASE_URL"] = test_db.owner_url
    env["GEO_LABEL_AUDIT_KEY"] = test_db.database.audit_key.decode()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "geo_label", "downgrades", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)

    target = world.ids["noforn"]
    proposed = as_json(
        run(
            "propose",
            target,
            "--marking",
            "UNCLASSIFIED",
            "--version",
            "1",
            "--as",
            first,
            "--justification",
            "declassified by the originator, ref 2026-118",
            "--json",
        )
    )
    assert proposed["state"] == "pending" and proposed["marking"] == "SECRET//NOFORN"
    assert "another security officer" in one_line_error(run("approve", proposed["id"], "--as", first))
    listed = as_json(run("list", "--as", second, "--json"))
    assert proposed["id"] in [p["id"] for p in listed]
    approved = run("approve", proposed["id"], "--as", second, "--comment", "confirmed")
    assert approved.returncode == 0 and "approved" in approved.stdout, approved.stderr
