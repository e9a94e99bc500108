"""A model version measured against accepted labels (issue 13, part 4): only done chips, references merged
across overlapping chips, exactly what the caller may read, the human-correction figures, and the API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from geo_label import workflow
from geo_label.annotations import AnnotationInput, create_annotation
from geo_label.db.context import Caller
from geo_label.db.engine import Database
from geo_label.db.models import CHIPS, TASKS
from geo_label.errors import InvalidInputError, PermissionDeniedError
from geo_label.predictions.evaluation import EvaluationOptions, evaluate_model
from geo_label.predictions.registry import add_model
from geo_label.workflow.queue import ensure_tasks
from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.service.scene import OVERLAP, SIZE, Scene
from tests.service.test_svc_access_support import audit_rows
from tests.service.test_svc_predictions import act, import_as
from tests.service.test_svc_workflow_concurrency import all_at_once
from tests.service.test_svc_workflow_support import footprint, owner, square
from tests.world import add_member, caller, ingest, make_project, make_user, unique

MODEL = "ships@1"


@pytest.fixture
def done(test_db: TestDatabase, utm_image: Path, data_dir: Path, tmp_path: Path) -> dict[str, Any]:
    """A project without review over the UTM image (chips of 256, no overlap); a labeler finishes two chips,
    drawing two vehicles on each; the model ships@1 predicts, on each of those chips, the first vehicle
    exactly, the second shifted by a quarter of its side (IoU 0.6) and a vehicle that is not there, and one
    vehicle on a chip nobody finished. Its predictions are marked SECRET."""
    project = make_project(test_db, "UNCLASSIFIED")
    manager = make_user(test_db, unique("mgr"), "TS", "USA")
    labeler = make_user(test_db, unique("lab"), "TS", "USA")
    reviewer = make_user(test_db, unique("rev"), "C", "USA")
    add_member(test_db, project, manager, "manager")
    add_member(test_db, project, labeler, "labeler")
    add_member(test_db, project, reviewer, "reviewer")
    ingest(test_db, project, utm_image, data_dir, "UNCLASSIFIED", size=100)  # 11 x 9 chips, none shifted
    with test_db.as_system() as session:
        workflow.update_workflow(
            session, session.info["caller"], project, workflow.WorkflowChanges(review_required=False)
        )
    act(test_db, manager, lambda s, c: add_model(s, c, project, name="ships", version="1"))
    features = []
    finished = []
    for _ in range(2):
        task = act(test_db, labeler, lambda s, c: workflow.next_task(s, c, project))
        chip = footprint(test_db, task["chip_id"])
        first, second = square(chip, 0.2, 0.2), square(chip, 0.6, 0.6)
        for geometry in (first, second):
            act(
                test_db,
                labeler,
                lambda s, c, g=geometry, t=task: create_annotation(
                    s, c, AnnotationInput(chip_id=t["chip_id"], label_class="vehicle", geometry=g)
                ),
            )
        act(test_db, labeler, lambda s, c, t=task: workflow.submit(s, c, t["id"]))
        finished.append(task["chip_id"])
        features += [
            {"geometry": first, "score": 0.9},
            {"geometry": square(chip, 0.6, 0.6, shift=0.25), "score": 0.8},
            {"geometry": square(chip, 0.4, 0.1), "score": 0.7},
        ]
    other = act(test_db, labeler, lambda s, c: workflow.next_task(s, c, project))
    features.append({"geometry": square(footprint(test_db, other["chip_id"]), 0.5, 0.5), "score": 0.95})
    path = tmp_path / "ships.geojsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "type": "Feature",
                    "geometry": f["geometry"],
                    "properties": {"class": "vehicle", "score": f["score"]},
                }
            )
            + "\n"
            for f in features
        )
    )
    import_as(test_db, manager, project, path, "SECRET")
    return {
        "project": project,
        "manager": manager,
        "labeler": labeler,
        "reviewer": reviewer,
        "chips": finished,
    }


def evaluate(test_db: TestDatabase, user: str, project: uuid.UUID, **options: Any) -> Any:
    return act(test_db, user, lambda s, c: evaluate_model(s, c, project, MODEL, EvaluationOptions(**options)))


def test_the_model_is_measured_on_done_chips_only(test_db: TestDatabase, done: dict[str, Any]) -> None:
    result = act(
        test_db,
        done["manager"],
        lambda s, c: evaluate_model(s, c, done["project"], MODEL, EvaluationOptions()),
    )
    overall = result["overall"]
    assert (overall["labels"], overall["predictions"], overall["true_positives"]) == (4, 6, 4)
    assert overall["precision"] == pytest.approx(4 / 6) and overall["recall"] == 1.0
    assert overall["f1"] == pytest.approx(0.8)
    assert 0.0 < overall["ap50"] <= 1.0 and overall["ap50_95"] < overall["ap50"]
    assert result["classes"]["vehicle"]["labels"] == 4
    assert result["confusion"] == {"vehicle": {"vehicle": 4}, "none": {"vehicle": 2}}
    correction = result["correction"]
    assert (correction["shown"], correction["undecided"], correction["added_by_people"]) == (6, 6, 4)
    assert result["banner"] == "SECRET//NOFORN"  # the roll-up of SECRET predictions and UNCLASSIFIED labels
    strict = act(
        test_db,
        done["manager"],
        lambda s, c: evaluate_model(s, c, done["project"], MODEL, EvaluationOptions(iou=0.7)),
    )
    assert strict["overall"]["true_positives"] == 2  # the shifted ones (IoU 0.6) no longer count
    assert audit_rows(test_db, "model.evaluate", project_id=str(done["project"]))


def test_a_reader_who_may_not_see_the_predictions_sees_none(
    test_db: TestDatabase, done: dict[str, Any]
) -> None:
    result = act(
        test_db,
        done["reviewer"],
        lambda s, c: evaluate_model(s, c, done["project"], MODEL, EvaluationOptions()),
    )
    assert (result["overall"]["labels"], result["overall"]["predictions"]) == (4, 0)
    assert result["banner"] == "UNCLASSIFIED"
    with pytest.raises(PermissionDeniedError):
        act(
            test_db,
            done["labeler"],
            lambda s, c: evaluate_model(s, c, done["project"], MODEL, EvaluationOptions()),
        )


def test_the_evaluation_through_the_api(client: TestClient, done: dict[str, Any]) -> None:
    base = f"/api/v1/projects/{done['project']}/models/{MODEL}/evaluation"
    manager = token(client, done["manager"])
    body = client.get(base, headers=manager, params={"iou": 0.5}).json()
    assert body["overall"]["true_positives"] == 4 and len(body["curve"]["precision"]) == 101
    assert client.get(base, headers=manager, params={"iou": 0}).status_code == 422
    assert client.get(base, headers=token(client, done["labeler"])).status_code == 403
    missing = f"/api/v1/projects/{done['project']}/models/ghost@1/evaluation"
    assert client.get(missing, headers=manager).status_code == 404
    assert (
        client.get(f"/api/v1/projects/{uuid.uuid4()}/models/{MODEL}/evaluation", headers=manager).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("box", "labeled", "done"),
    [
        # Labeled on both chips of an overlap, both done: one reference, matched once.
        ((200, 50, 240, 90), ((0, 0), (0, 192)), ((0, 0), (0, 192))),
        # Labeled on the done chip; the prediction belongs to the unfinished neighbour (its centre is nearer)
        # but lies whole on the done chip, where the labeler saw it: it counts.
        ((232, 50, 252, 70), ((0, 0),), ((0, 0),)),
    ],
)
def test_objects_in_overlaps_are_counted_once_and_where_they_were_seen(
    test_db: TestDatabase,
    utm_image: Path,
    data_dir: Path,
    tmp_path: Path,
    box: tuple[int, int, int, int],
    labeled: tuple[tuple[int, int], ...],
    done: tuple[tuple[int, int], ...],
) -> None:
    project = make_project(test_db, "UNCLASSIFIED")
    manager = make_user(test_db, unique("mgr"), "TS", "USA")
    add_member(test_db, project, manager, "manager")
    image = ingest(test_db, project, utm_image, data_dir, "UNCLASSIFIED", size=SIZE, overlap=OVERLAP)
    act(test_db, manager, lambda s, c: add_model(s, c, project, name="ships", version="1"))
    with test_db.as_system() as session:
        chips = [dict(r) for r in session.execute(select(CHIPS).where(CHIPS.c.image_id == image)).mappings()]
    scene = Scene(utm_image, chips)
    vehicle = scene.box(*box)
    for offsets in labeled:
        act(
            test_db,
            manager,
            lambda s, c, o=offsets: create_annotation(
                s, c, AnnotationInput(chip_id=scene.chips[o], label_class="vehicle", geometry=vehicle)
            ),
        )
    with owner(test_db) as connection:  # the chips reviewed and accepted, as a reviewer would leave them
        user = connection.execute("SELECT id FROM users WHERE username = %s", (manager,)).fetchone()
        assert user is not None
        connection.execute(
            "UPDATE tasks SET state = 'accepted', assignee = %s WHERE chip_id = ANY(%s)",
            (user[0], [scene.chips[o] for o in done]),
        )
        connection.execute(
            "UPDATE annotations SET status = 'accepted', version = version + 1 WHERE project_id = %s",
            (project,),
        )
    path = tmp_path / "one.geojsonl"
    path.write_text(
        json.dumps({"type": "Feature", "geometry": vehicle, "properties": {"class": "vehicle", "score": 0.9}})
        + "\n"
    )
    import_as(test_db, manager, project, path, "U")
    result = evaluate(test_db, manager, project)
    assert (result["overall"]["labels"], result["overall"]["true_positives"]) == (1, 1)
    assert result["overall"]["predictions"] == 1 and result["overall"]["ap50"] == 1.0


def ordered_world(
    test_db: TestDatabase, utm_image: Path, data_dir: Path, tmp_path: Path, labelers_count: int
) -> tuple[uuid.UUID, str, list[str], list[uuid.UUID]]:
    """A project over the UTM image in 99 chips of 100 px, ships@1's predictions on three of them (one sure
    of two objects, one unsure, one marked above its chip) and the queue in the uncertain order; returns the
    project, its manager, its labelers and those three chips."""
    project = make_project(test_db, "UNCLASSIFIED")
    manager = make_user(test_db, unique("mgr"), "TS", "USA")
    labelers = [make_user(test_db, unique(f"lab{k}"), "TS", "USA") for k in range(labelers_count)]
    add_member(test_db, project, manager, "manager")
    for name in labelers:
        add_member(test_db, project, name, "labeler")
    image = ingest(test_db, project, utm_image, data_dir, "UNCLASSIFIED", size=100)
    act(test_db, manager, lambda s, c: add_model(s, c, project, name="ships", version="1"))
    with test_db.as_system() as session:
        operator = session.info["caller"]
        ensure_tasks(session, operator, project, workflow=workflow.load_workflow(session, operator, project))
        in_default_order = (
            select(TASKS.c.chip_id)
            .join(CHIPS, CHIPS.c.id == TASKS.c.chip_id)
            .where(CHIPS.c.image_id == image)
            .order_by(TASKS.c.replica, TASKS.c.created_at, TASKS.c.id)
        )
        chips = list(session.execute(in_default_order).scalars())
    sure, unsure, hidden = chips[40], chips[70], chips[90]  # none of them first in the default order

    def on(chip: uuid.UUID, score: float, **props: Any) -> str:
        geometry = square(footprint(test_db, chip), 0.3, 0.3)
        return json.dumps(
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": {"class": "vehicle", "score": score, **props},
            }
        )

    path = tmp_path / "ships.geojsonl"
    path.write_text(
        "\n".join([on(sure, 0.97), on(sure, 0.03), on(unsure, 0.51), on(hidden, 0.5, marking="(S)")]) + "\n"
    )
    import_as(test_db, manager, project, path, "U")
    changes = workflow.WorkflowChanges(queue_order="uncertain", queue_model=MODEL)
    settings = act(test_db, manager, lambda s, c: workflow.update_workflow(s, c, project, changes))
    assert settings.queue_order == "uncertain" and settings.queue_threshold == 0.5
    return project, manager, labelers, [sure, unsure, hidden]


def test_the_queue_follows_the_model_least_sure_first(
    test_db: TestDatabase, utm_image: Path, data_dir: Path, tmp_path: Path
) -> None:
    project, manager, labelers, (sure, unsure, hidden) = ordered_world(
        test_db, utm_image, data_dir, tmp_path, 3
    )
    leased = [
        act(test_db, name, lambda s, c: workflow.next_task(s, c, project))["chip_id"] for name in labelers[:2]
    ]
    assert leased == [unsure, sure]  # 0.51 is nearest the threshold; 0.97 and 0.03 next; the SECRET one not
    back = workflow.WorkflowChanges(queue_order="default")
    act(test_db, manager, lambda s, c: workflow.update_workflow(s, c, project, back))
    third = act(test_db, labelers[2], lambda s, c: workflow.next_task(s, c, project))
    assert third["chip_id"] not in (sure, unsure, hidden)
    modelless = make_project(test_db, "UNCLASSIFIED")
    add_member(test_db, modelless, manager, "manager")
    most = workflow.WorkflowChanges(queue_order="most_objects")
    with pytest.raises(InvalidInputError, match="needs a model"):
        act(test_db, manager, lambda s, c: workflow.update_workflow(s, c, modelless, most))


@pytest.fixture
def crowd_pool(test_db: TestDatabase) -> Iterator[Database]:
    database = Database.connect(test_db.owner_url, audit_key=test_db.database.audit_key, pool_size=16)
    try:
        yield database
    finally:
        database.dispose()


def test_the_model_ordered_queue_hands_no_task_twice(
    test_db: TestDatabase, utm_image: Path, data_dir: Path, tmp_path: Path, crowd_pool: Database
) -> None:
    """Thirty labelers ask at the same moment: thirty different tasks, the two the model is least sure
    about among them."""
    project, _, labelers, (sure, unsure, _) = ordered_world(test_db, utm_image, data_dir, tmp_path, 30)
    callers = [caller(test_db, name) for name in labelers]

    def lease(who: Caller) -> Any:
        with crowd_pool.transaction(who) as session:
            return workflow.next_task(session, who, project)

    tasks, _, _ = all_at_once(callers, lease)
    chips = [task["chip_id"] for task in tasks]
    assert len(set(chips)) == len(chips) == 30
    assert {sure, unsure} <= set(chips)
