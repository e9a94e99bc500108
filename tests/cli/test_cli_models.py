"""`geo-label models add|list` and `geo-label predictions import` as an operator runs them: real subprocesses
against the test database, JSON as the issue fixes it, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from geo_label.callers import load_caller_by_name
from geo_label.db.models import CHIPS, PREDICTIONS
from geo_label.predictions.registry import add_model
from tests.cli.test_cli_workflow import as_json, one_line_error
from tests.pg import TestDatabase
from tests.world import add_member, ingest, make_project, make_user, unique

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ModelWorld:
    db: TestDatabase
    env: dict[str, str]
    project: str
    manager: str
    labeler: str
    files: Path
    square: dict[str, Any]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "geo_label", *args]
        return subprocess.run(command, capture_output=True, text=True, env=self.env, cwd=REPO, timeout=180)


@pytest.fixture(scope="module")
def world(test_db: TestDatabase, utm_image: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelWorld:
    data_dir = tmp_path_factory.mktemp("cli-models-data")
    name = unique("cli-models")
    project = make_project(test_db, "UNCLASSIFIED", name=name)
    manager = make_user(test_db, unique("manager"), "SECRET")
    labeler = make_user(test_db, unique("labeler"), "SECRET")
    add_member(test_db, project, manager, "manager")
    add_member(test_db, project, labeler, "labeler")
    image = ingest(test_db, project, utm_image, data_dir, "UNCLASSIFIED")
    with test_db.as_system() as session:
        centre = session.execute(
            select(func.ST_AsGeoJSON(func.ST_Centroid(CHIPS.c.footprint)))
            .where(CHIPS.c.image_id == image)
            .limit(1)
        ).scalar_one()
    lon, lat = json.loads(centre)["coordinates"]
    d = 0.0002
    square = {
        "type": "Polygon",
        "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]],
    }
    with test_db.database.sessions() as session:
        who = load_caller_by_name(session, manager)
    with test_db.as_caller(who) as session:
        add_model(session, who, project, name="ships", version="1.0")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["GEO_LABEL_DATABASE_URL"] = test_db.owner_url
    env["GEO_LABEL_AUDIT_KEY"] = test_db.database.audit_key.decode()
    env["GEO_LABEL_DATA_DIR"] = str(data_dir)
    return ModelWorld(
        test_db, env, name, manager, labeler, tmp_path_factory.mktemp("cli-models-files"), square
    )


def predictions_file(world: ModelWorld, name: str, features: list[dict[str, Any]]) -> str:
    path = world.files / name
    path.write_text("".join(json.dumps(f) + "\n" for f in features))
    return str(path)


def feature(geometry: dict[str, Any], label: str = "vehicle", score: float = 0.9) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"class": label, "score": score}}


def test_models_and_an_import_as_the_issue_fixes_them(world: ModelWorld) -> None:
    added = as_json(
        world.run("models", "add", world.project, "boats", "--version", "2", "--as", world.manager, "--json")
    )
    assert (added["name"], added["version"]) == ("boats", "2")
    conflict = one_line_error(
        world.run("models", "add", world.project, "ships", "--version", "1.0", "--as", world.manager)
    )
    assert "already registered" in conflict
    denied = one_line_error(
        world.run("models", "add", world.project, "cars", "--version", "1", "--as", world.labeler)
    )
    assert "manager role" in denied
    listed = as_json(world.run("models", "list", world.project, "--as", world.labeler, "--json"))
    assert [(m["name"], m["version"], m["marking"]) for m in listed] == [
        ("boats", "2", "UNCLASSIFIED"),
        ("ships", "1.0", "UNCLASSIFIED"),
    ]

    path = predictions_file(
        world,
        "ships.geojsonl",
        [feature(world.square), feature(world.square, score=0.5), feature(world.square, label="tank")],
    )
    command = (
        "predictions",
        "import",
        path,
        "--project",
        world.project,
        "--model",
        "ships@1.0",
        "--as",
        world.manager,
    )
    unmarked = one_line_error(world.run(*command))
    assert "no marking" in unmarked and "--marking" in unmarked
    report = as_json(world.run(*command, "--marking", "SECRET", "--json"))
    assert (report["imported"], report["duplicates"]) == (2, 0)
    assert report["refused"] == [{"index": 3, "reason": report["refused"][0]["reason"]}]
    assert "tank" in report["refused"][0]["reason"]
    assert report["banner"] == "SECRET"
    again = as_json(world.run(*command, "--marking", "SECRET", "--json"))
    assert (again["imported"], again["duplicates"]) == (0, 2)
    strict = one_line_error(world.run(*command, "--marking", "SECRET", "--strict"))
    assert "record 3" in strict and "--strict" in strict
    text = world.run(*command, "--marking", "SECRET")
    assert text.returncode == 0 and "imported 0, skipped 2 already present" in text.stdout
    assert "record 3:" in text.stdout
    with world.db.as_system() as session:
        assert session.execute(select(func.count()).select_from(PREDICTIONS)).scalar_one() >= 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--model", "ships"), "NAME@VERSION"),
        (("--model", "ghost@1"), "model not found"),
        (("--model", "ships@1.0", "--image", "seven"), "not an image id"),
        (("--model", "ships@1.0", "--marking", "SECRET//BOGUS"), "BOGUS"),
        (("--model", "ships@1.0", "--marking", "U", "--min-score", "2"), "min-score"),
        (("--model", "ships@1.0", "--marking", "U", "--class-map", "/nonexistent.json"), "--class-map"),
    ],
)
def test_bad_arguments_are_one_line_errors(world: ModelWorld, args: tuple[str, ...], says: str) -> None:
    path = predictions_file(world, "one.geojsonl", [feature(world.square)])
    error = one_line_error(
        world.run("predictions", "import", path, "--project", world.project, "--as", world.manager, *args)
    )
    assert says in error


def test_models_evaluate_prints_the_fixed_shape(world: ModelWorld) -> None:
    result = as_json(
        world.run("models", "evaluate", world.project, "ships@1.0", "--as", world.manager, "--json")
    )
    assert {"model", "iou", "overall", "classes", "confusion", "correction"} <= set(result)
    assert set(result["overall"]) == {
        "precision",
        "recall",
        "f1",
        "ap50",
        "ap50_95",
        "predictions",
        "labels",
        "true_positives",
    }
    assert {"shown", "accepted_unchanged", "edited", "rejected", "added_by_people"} <= set(
        result["correction"]
    )
    assert (result["model"], result["iou"]) == ("ships@1.0", 0.5)
    text = world.run("models", "evaluate", world.project, "ships@1.0", "--as", world.manager, "--iou", "0.7")
    assert text.returncode == 0 and "ships@1.0 against 0 accepted objects" in text.stdout
    denied = one_line_error(
        world.run("models", "evaluate", world.project, "ships@1.0", "--as", world.labeler)
    )
    assert "manager or reviewer role" in denied
    bad = one_line_error(world.run("models", "evaluate", world.project, "ships@1.0", "--iou", "0"))
    assert "IoU" in bad
