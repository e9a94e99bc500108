"""`geo-label projects workflow` and `geo-label tasks ...` as an operator runs them: real subprocesses against
the test database, over a project whose queue was worked through the services.

The world: an UNCLASSIFIED project with three labelers per chip, two UNCLASSIFIED chips and one SECRET chip
(nine tasks). Two labelers handed in both UNCLASSIFIED chips (one drew a building on each, the other nothing:
both chips disagree), a third holds a lease that lapsed a day ago. Commands that change nothing run first, in
parallel (each is an interpreter start-up); the ones that change the world run after them, in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from geo_label import workflow
from geo_label.annotations import AnnotationInput, create_annotation
from geo_label.db.models import CHIPS, TASKS
from geo_label.workflow.common import utcnow
from tests.pg import TestDatabase
from tests.service.test_svc_workflow_support import footprint, owner, scene, square
from tests.world import add_member, caller, ingest, make_project, make_user, unique

pytestmark = pytest.mark.slow  # a few dozen interpreter start-ups, two at a time

REPO = Path(__file__).resolve().parents[2]


@dataclass
class CliWorld:
    db: TestDatabase
    env: dict[str, str]
    project: uuid.UUID
    name: str
    open_chips: list[uuid.UUID]
    users: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "geo_label", *args]
        return subprocess.run(command, capture_output=True, text=True, env=self.env, cwd=REPO, timeout=180)


def draw(db: TestDatabase, username: str, chip_id: uuid.UUID) -> None:
    who = caller(db, username)
    with db.as_caller(who) as session:
        geometry = square(footprint(db, chip_id), 0.2, 0.2, side=0.3)
        create_annotation(
            session, who, AnnotationInput(chip_id=chip_id, label_class="building", geometry=geometry)
        )


def work_through(world: CliWorld, who: str, *, drawing: bool) -> int:
    """Lease and submit until the queue has nothing more for ``who``; returns how many were handed in."""
    done = 0
    while True:
        with world.db.as_caller(labeler := caller(world.db, world.users[who])) as session:
            task = workflow.next_task(session, labeler, world.project)
        if task is None:
            return done
        if drawing:
            draw(world.db, world.users[who], task["chip_id"])
        with world.db.as_caller(labeler) as session:
            workflow.submit(session, labeler, task["id"])
        done += 1
        assert done <= 3


@pytest.fixture(scope="module")
def world(test_db: TestDatabase, raster_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> CliWorld:
    data_dir = tmp_path_factory.mktemp("cli-workflow-data")
    name = unique("cli-workflow")
    project = make_project(test_db, "UNCLASSIFIED", name=name)
    with test_db.as_system() as session:
        workflow.update_workflow(
            session, session.info["caller"], project, workflow.WorkflowChanges(consensus_k=3)
        )
    users = {}
    for who, role in (
        ("manager", "manager"),
        ("labeler_a", "labeler"),
        ("labeler_b", "labeler"),
        ("labeler_c", "labeler"),
    ):
        users[who] = make_user(test_db, unique(who), "UNCLASSIFIED")
        add_member(test_db, project, users[who], role)
    open_image = ingest(test_db, project, scene(raster_dir, 512, 256, seed=61), data_dir, "UNCLASSIFIED")
    ingest(test_db, project, scene(raster_dir, 256, 256, seed=62), data_dir, "SECRET")
    with test_db.as_system() as session:
        chips = session.execute(
            select(CHIPS.c.id).where(CHIPS.c.image_id == open_image).order_by(CHIPS.c.col_off)
        )
        open_chips = list(chips.scalars())
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["GEO_LABEL_DATABASE_URL"] = test_db.owner_url
    env["GEO_LABEL_AUDIT_KEY"] = test_db.database.audit_key.decode()  # one key seals the whole test audit
    env["GEO_LABEL_DATA_DIR"] = str(data_dir)
    built = CliWorld(test_db, env, project, name, open_chips, users)
    assert work_through(built, "labeler_a", drawing=True) == 2
    assert work_through(built, "labeler_b", drawing=False) == 2
    lapsed = caller(test_db, users["labeler_c"])
    with test_db.as_caller(lapsed) as session:
        held = workflow.next_task(session, lapsed, project, now=utcnow() - timedelta(days=1))
        assert held is not None
    return built


#: Commands that change nothing, by name: (arguments with {project}, {chip}, {manager}, ... substituted).
RUNS: dict[str, tuple[str, ...]] = {
    "workflow": ("projects", "workflow", "{project}"),
    "workflow-json": ("projects", "workflow", "{project}", "--as", "{manager}", "--json"),
    "workflow-unknown-project": ("projects", "workflow", "no-such-project"),
    "workflow-bad-lease": ("projects", "workflow", "{project}", "--lease-minutes", "0"),
    "workflow-bad-consensus": ("projects", "workflow", "{project}", "--consensus", "11"),
    "workflow-bad-threshold": ("projects", "workflow", "{project}", "--agreement-threshold", "1.5"),
    "workflow-not-a-number": ("projects", "workflow", "{project}", "--lease-minutes", "soon"),
    "workflow-as-labeler": ("projects", "workflow", "{project}", "--consensus", "2", "--as", "{labeler_a}"),
    "workflow-as-nobody": ("projects", "workflow", "{project}", "--as", "nobody-at-all"),
    "list": ("tasks", "list", "{project}", "--state", "submitted"),
    "list-json": ("tasks", "list", "{project}", "--json"),
    "list-as-manager": ("tasks", "list", "{project}", "--as", "{manager}", "--json"),
    "list-as-labeler": ("tasks", "list", "{project}", "--as", "{labeler_a}"),
    "list-bad-state": ("tasks", "list", "{project}", "--state", "finished"),
    "list-bad-limit": ("tasks", "list", "{project}", "--limit", "0"),
    "list-unknown-project": ("tasks", "list", "no-such-project"),
    "progress": ("tasks", "progress", "{project}"),
    "progress-json": ("tasks", "progress", "{project}", "--json"),
    "progress-as-labeler": ("tasks", "progress", "{project}", "--as", "{labeler_a}"),
    "progress-unknown-project": ("tasks", "progress", "no-such-project"),
    "stats": ("tasks", "stats", "{project}", "{labeler_a}"),
    "stats-own-json": ("tasks", "stats", "{project}", "{labeler_a}", "--as", "{labeler_a}", "--json"),
    "stats-of-another": ("tasks", "stats", "{project}", "{labeler_b}", "--as", "{labeler_a}"),
    "stats-unknown-user": ("tasks", "stats", "{project}", "nobody-at-all"),
    "agreement": ("tasks", "agreement", "{project}"),
    "agreement-json": ("tasks", "agreement", "{project}", "--as", "{manager}", "--json"),
    "agreement-as-labeler": ("tasks", "agreement", "{project}", "--as", "{labeler_a}"),
    "agreement-unknown-project": ("tasks", "agreement", "no-such-project"),
    "gold-not-a-chip-id": ("tasks", "gold", "{project}", "chip-7", "--as", "{manager}"),
    "gold-missing-chip": ("tasks", "gold", "{project}", str(uuid.UUID(int=7)), "--as", "{manager}"),
    "gold-as-labeler": ("tasks", "gold", "{project}", "{chip}", "--as", "{labeler_a}"),
    "gold-without-as": ("tasks", "gold", "{project}", "{chip}"),
    "release-unknown-project": ("tasks", "release-expired", "no-such-project"),
}


@pytest.fixture(scope="module")
def runs(world: CliWorld) -> dict[str, subprocess.CompletedProcess[str]]:
    values = {"project": world.name, "chip": str(world.open_chips[0]), **world.users}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(world.run, *(arg.format(**values) for arg in args))
            for name, args in RUNS.items()
        }
        return {name: future.result() for name, future in futures.items()}


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert result.stderr == ""
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(succeeded(result))


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("geo-label: error: ")
    assert result.stdout == ""
    return lines[0]


def test_workflow_settings_are_shown(
    runs: dict[str, subprocess.CompletedProcess[str]], world: CliWorld
) -> None:
    out = succeeded(runs["workflow"])
    assert out.startswith(f"{world.name} [UNCLASSIFIED]: review required, leases of 120 minutes")
    assert "3 labeler(s) per chip, agreement threshold 0.7" in out
    settings = as_json(runs["workflow-json"])
    assert settings == {
        "project_id": str(world.project),
        "project": world.name,
        "review_required": True,
        "lease_minutes": 120,
        "consensus_k": 3,
        "agreement_threshold": 0.7,
        "queue_order": "default",
        "queue_model_id": None,
        "queue_threshold": 0.5,
    }


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("workflow-unknown-project", "project not found"),
        ("workflow-bad-lease", "lease_minutes must be 1.."),
        ("workflow-bad-consensus", "consensus_k must be 1..10"),
        ("workflow-bad-threshold", "agreement_threshold must be between 0 and 1"),
        ("workflow-as-labeler", "needs the manager role"),
        ("workflow-as-nobody", "no active user 'nobody-at-all'"),
        ("list-as-labeler", "needs the reviewer or manager role"),
        ("list-bad-state", "state must be one of open, in_progress, submitted, accepted, rejected"),
        ("list-bad-limit", "limit must be 1..1000"),
        ("list-unknown-project", "project not found"),
        ("progress-as-labeler", "needs the manager role"),
        ("progress-unknown-project", "project not found"),
        ("stats-of-another", "for themself and the project's managers"),
        ("stats-unknown-user", "not found"),
        ("agreement-as-labeler", "needs the manager role"),
        ("agreement-unknown-project", "project not found"),
        ("gold-not-a-chip-id", "not a chip id: 'chip-7'"),
        ("gold-missing-chip", "chip not found"),
        ("gold-as-labeler", "needs the manager role"),
        ("release-unknown-project", "project not found"),
    ],
)
def test_errors_are_one_line_without_traceback(
    runs: dict[str, subprocess.CompletedProcess[str]], name: str, says: str
) -> None:
    assert says in one_line_error(runs[name])


@pytest.mark.parametrize(
    ("name", "option"), [("workflow-not-a-number", "--lease-minutes"), ("gold-without-as", "--as")]
)
def test_usage_errors_exit_2_without_traceback(
    runs: dict[str, subprocess.CompletedProcess[str]], name: str, option: str
) -> None:
    result = runs[name]
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and option in result.stderr
    assert result.stdout == ""


def test_tasks_list(runs: dict[str, subprocess.CompletedProcess[str]], world: CliWorld) -> None:
    lines = succeeded(runs["list"]).splitlines()
    assert lines[-1] == f"4 of 4 tasks of {world.name}"
    assert len(lines) == 5
    assert all(line.split("\t")[3] == "submitted" for line in lines[:-1])
    assert {line.split("\t")[4] for line in lines[:-1]} == {
        world.users["labeler_a"],
        world.users["labeler_b"],
    }
    # The operator reads all nine tasks; the UNCLASSIFIED manager neither lists nor counts the SECRET chip's.
    every = as_json(runs["list-json"])
    assert every["total"] == len(every["items"]) == 9
    assert sum(item["marking"].startswith("SECRET") for item in every["items"]) == 3
    managed = as_json(runs["list-as-manager"])
    assert managed["total"] == len(managed["items"]) == 6
    assert {item["marking"] for item in managed["items"]} == {"UNCLASSIFIED"}
    states = sorted(item["state"] for item in managed["items"])
    assert states == ["in_progress", "open", "submitted", "submitted", "submitted", "submitted"]


def test_tasks_progress(runs: dict[str, subprocess.CompletedProcess[str]], world: CliWorld) -> None:
    out = succeeded(runs["progress"])
    assert (
        f"{world.name}: 3 chips, 9 tasks (open 4, in_progress 1, submitted 4, accepted 0, rejected 0)" in out
    )
    assert "agreement: 2 chips compared, mean 0.00, 2 below 0.7" in out
    report = as_json(runs["progress-json"])
    assert report["tasks"]["by_state"] == {
        "open": 4,
        "in_progress": 1,
        "submitted": 4,
        "accepted": 0,
        "rejected": 0,
    }
    assert report["settings"]["consensus_k"] == 3


def test_tasks_stats(runs: dict[str, subprocess.CompletedProcess[str]], world: CliWorld) -> None:
    out = succeeded(runs["stats"])
    assert out.startswith(f"{world.users['labeler_a']} in {world.name}: 2 tasks done")
    own = as_json(runs["stats-own-json"])
    assert own["username"] == world.users["labeler_a"]
    assert own["tasks_done"] == 2 and own["tasks"]["submitted"] == 2
    assert own["reviews"] == {"accepted": 0, "rejected": 0} and own["acceptance_rate"] is None


def test_tasks_agreement_lists_the_flagged_chips(
    runs: dict[str, subprocess.CompletedProcess[str]], world: CliWorld
) -> None:
    lines = succeeded(runs["agreement"]).splitlines()
    assert sorted(lines[:-1]) == sorted(f"{chip}\t0.00" for chip in world.open_chips)
    assert lines[-1].endswith("2 chips compared (3 labeler(s) per chip), mean agreement 0.00, 2 below 0.7")
    summary = as_json(runs["agreement-json"])
    assert summary["flagged_count"] == 2 and summary["threshold"] == 0.7
    assert {f["chip_id"] for f in summary["flagged"]} == {str(c) for c in world.open_chips}


def audit_details(world: CliWorld, action: str) -> list[tuple[str, dict[str, Any]]]:
    with owner(world.db) as connection:
        rows = connection.execute(
            "SELECT actor_name, details FROM audit_log WHERE action = %s AND project_id = %s ORDER BY id",
            (action, str(world.project)),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_changing_the_workflow_is_audited(
    runs: dict[str, subprocess.CompletedProcess[str]], world: CliWorld
) -> None:
    out = succeeded(
        world.run(
            "projects",
            "workflow",
            world.name,
            "--no-review",
            "--lease-minutes",
            "30",
            "--agreement-threshold",
            "0.5",
        )
    )
    assert out.startswith(f"updated the workflow of {world.name}\n")
    assert "review off, leases of 30 minutes, 3 labeler(s) per chip, agreement threshold 0.5" in out
    manager = world.users["manager"]
    again = as_json(world.run("projects", "workflow", world.name, "--review", "--as", manager, "--json"))
    assert again["review_required"] is True and again["lease_minutes"] == 30
    with world.db.as_system() as session:
        settings = workflow.load_workflow(session, session.info["caller"], world.project)
    assert (settings.review_required, settings.lease_minutes, settings.agreement_threshold) == (True, 30, 0.5)
    records = audit_details(world, "project.workflow")
    assert [actor for actor, _ in records[-2:]] == ["system", manager]
    assert records[-2][1]["changes"] == {
        "review_required": False,
        "lease_minutes": 30,
        "agreement_threshold": 0.5,
    }
    assert records[-1][1]["changes"] == {"review_required": True}


def test_a_chip_made_gold_scores_the_work_handed_in(
    runs: dict[str, subprocess.CompletedProcess[str]], world: CliWorld
) -> None:
    chip = world.open_chips[0]
    draw(world.db, world.users["manager"], chip)
    result = as_json(
        world.run("tasks", "gold", world.name, str(chip), "--as", world.users["manager"], "--json")
    )
    assert result == {"chip_id": str(chip), "references": 1, "moved_annotations": 1, "rescored": 2}
    stats = as_json(world.run("tasks", "stats", world.name, world.users["labeler_a"], "--json"))
    assert stats["gold"]["tasks"] == 1 and stats["gold"]["f1"] == 1.0  # labeler_a drew the same square


def test_release_expired_returns_the_lapsed_lease(
    runs: dict[str, subprocess.CompletedProcess[str]], world: CliWorld
) -> None:
    assert (
        succeeded(world.run("tasks", "release-expired", world.name))
        == f"released 1 expired lease(s) in {world.name}\n"
    )
    assert as_json(world.run("tasks", "release-expired", world.name, "--json")) == {
        "project_id": str(world.project),
        "released": 0,
    }
    with world.db.as_system() as session:
        states = session.execute(
            select(TASKS.c.state).where(TASKS.c.project_id == world.project, TASKS.c.state == "in_progress")
        )
        assert list(states.scalars()) == []
    assert [actor for actor, _ in audit_details(world, "task.lease_expired")] == ["system"]


def test_dataset_export_writes_a_marked_folder_or_nothing(world: CliWorld, tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    manager = world.users["manager"]
    common = ("dataset", "export", "--project", world.name, "--as", manager)
    done = world.run(*common, "--format", "coco", "--format", "stac", "--split", "1", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "wrote 2 labels on chips train 2 " in done.stdout, done.stdout
    assert (out / "MARKING.txt").read_text().splitlines()[0] == "UNCLASSIFIED"
    coco = json.loads((out / "annotations" / "instances_train.json").read_text())
    assert {image["chip_id"] for image in coco["images"]} == {str(chip) for chip in world.open_chips}
    bad = world.run(*common, "--format", "coco", "--split", "0.9,0.9", "-o", str(tmp_path / "bad"))
    assert bad.returncode != 0
    assert bad.stderr.strip().count("\n") == 0 and "add up to 1" in bad.stderr, bad.stderr
    assert not (tmp_path / "bad").exists()
    unknown = world.run(*common, "--format", "shapefile", "-o", str(tmp_path / "bad"))
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr
