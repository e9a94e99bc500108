"""Gold chips and per-labeler statistics: precision, recall and F1 at IoU 0.5 on hand-made cases; gold
references never reach labelers; a labeler's statistics are for themself and the project's managers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box

from geo_label.workflow import score
from geo_label.workflow.consensus import Feature
from tests.pg import TestDatabase
from tests.service.test_svc_workflow_support import (
    API,
    World,
    annotate,
    footprint,
    headers,
    make_world,
    scene,
    square,
)

ONE, TWO, THREE = box(0, 0, 1, 1), box(5, 0, 6, 1), box(10, 0, 11, 1)
REFERENCE = [Feature("building", ONE), Feature("building", TWO), Feature("vehicle", THREE)]
#: One exact hit, one building moved by half its size (IoU 1/3), the vehicle drawn as a building, one extra.
PREDICTED = [
    Feature("building", ONE),
    Feature("building", box(5.5, 0, 6.5, 1)),
    Feature("building", THREE),
    Feature("building", box(20, 0, 21, 1)),
]


def test_scores_on_hand_made_cases() -> None:
    perfect = score(REFERENCE, REFERENCE)
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)
    result = score(PREDICTED, REFERENCE)
    assert (result.true_positives, result.false_positives, result.false_negatives) == (1, 3, 2)
    assert result.precision == pytest.approx(1 / 4) and result.recall == pytest.approx(1 / 3)
    assert result.f1 == pytest.approx(2 / 7)
    nothing_drawn = score([], REFERENCE)
    assert (
        nothing_drawn.precision,
        nothing_drawn.recall,
        nothing_drawn.f1,
        nothing_drawn.false_negatives,
    ) == (
        0.0,
        0.0,
        0.0,
        3,
    )
    assert score([], []).f1 == 1.0  # an empty gold chip left empty is right
    assert score(PREDICTED, []).precision == 0.0


MEMBERS = {
    "labeler": ("U", "labeler"),
    "other": ("U", "labeler"),
    "reviewer": ("U", "reviewer"),
    "manager": ("U", "manager"),
}


@pytest.fixture
def world(test_db: TestDatabase, raster_dir: Path, data_dir: Path) -> World:
    return make_world(test_db, scene(raster_dir, 512, 256, seed=61), data_dir, members=MEMBERS)


def chips_of(client: TestClient, world: World) -> list[str]:
    listed = client.get(
        f"{API}/chips?project={world.project}", headers=headers(client, world.users["manager"])
    )
    return [c["id"] for c in listed.json()["items"]]


def in_chip(test_db: TestDatabase, chip_id: str, feature: Feature) -> dict[str, Any]:
    """A hand-made unit square (x from 0 to 21) placed in the chip, one unit being 4% of the chip's width."""
    west = feature.geometry.bounds[0]
    return square(footprint(test_db, chip_id), 0.05 + west * 0.04, 0.4, side=0.04)


def test_gold_scoring_and_statistics(client: TestClient, test_db: TestDatabase, world: World) -> None:
    gold_chip, plain_chip = chips_of(client, world)
    manager, labeler = headers(client, world.users["manager"]), headers(client, world.users["labeler"])
    body = {
        "chip_id": gold_chip,
        "features": [{"class": f.label_class, "geometry": in_chip(test_db, gold_chip, f)} for f in REFERENCE],
    }
    assert client.post(f"{API}/projects/{world.project}/gold", headers=labeler, json=body).status_code == 403
    marked = client.post(f"{API}/projects/{world.project}/gold", headers=manager, json=body)
    assert marked.status_code == 201, marked.text
    assert marked.json() == {"chip_id": gold_chip, "references": 3, "moved_annotations": 0, "rescored": 0}
    hidden = client.post(
        f"{API}/projects/{world.project}/gold", headers=manager, json={"chip_id": str(uuid.uuid4())}
    )
    assert hidden.status_code == 404

    done: dict[str, str] = {}
    for _ in range(2):
        task = client.post(f"{API}/projects/{world.project}/tasks/next", headers=labeler).json()
        assert "gold" not in task  # a labeler cannot tell a gold task from another
        if task["chip_id"] == gold_chip:
            for feature in PREDICTED:
                annotate(
                    client, labeler, gold_chip, in_chip(test_db, gold_chip, feature), feature.label_class
                )
        else:
            annotate(client, labeler, plain_chip, square(footprint(test_db, plain_chip), 0.4, 0.4))
        assert client.post(f"{API}/tasks/{task['id']}/submit", headers=labeler).status_code == 200
        done[task["chip_id"]] = task["id"]
    seen = client.get(f"{API}/annotations?chip={gold_chip}", headers=labeler).json()
    assert seen["total"] == 4  # the labeler's own features: the references are not annotations

    reviewer = headers(client, world.users["reviewer"])
    assert client.get(f"{API}/tasks/{done[gold_chip]}", headers=reviewer).json()["gold"] is True
    assert client.get(f"{API}/tasks/{done[plain_chip]}", headers=reviewer).json()["gold"] is False
    client.post(f"{API}/tasks/{done[gold_chip]}/review", headers=reviewer, json={"decision": "accept"})
    client.post(
        f"{API}/tasks/{done[plain_chip]}/review",
        headers=reviewer,
        json={"decision": "reject", "comment": "x"},
    )

    stats_url = f"{API}/projects/{world.project}/stats/{world.users['labeler']}"
    mine = client.get(stats_url, headers=labeler)
    assert mine.status_code == 200, mine.text
    stats = mine.json()
    assert stats["tasks"] == {"in_progress": 0, "submitted": 0, "accepted": 1, "rejected": 1}
    assert stats["tasks_done"] == 1 and stats["time_on_task_seconds"] > 0
    assert stats["reviews"] == {"accepted": 1, "rejected": 1} and stats["acceptance_rate"] == 0.5
    gold = stats["gold"]
    assert gold["tasks"] == 1 and gold["precision"] == pytest.approx(1 / 4)
    assert gold["recall"] == pytest.approx(1 / 3) and gold["f1"] == pytest.approx(2 / 7)
    assert client.get(stats_url, headers=manager).json() == stats
    for who in ("other", "reviewer"):
        refused = client.get(stats_url, headers=headers(client, world.users[who]))
        assert refused.status_code == 403 and "themself" in refused.json()["detail"]
    assert (
        client.get(
            f"{API}/projects/{world.project}/stats/nobody-{uuid.uuid4().hex[:6]}", headers=manager
        ).status_code
        == 404
    )
    own = client.get(
        f"{API}/projects/{world.project}/stats/{world.users['other']}",
        headers=headers(client, world.users["other"]),
    )
    assert own.status_code == 200 and own.json()["tasks_done"] == 0 and own.json()["acceptance_rate"] is None

    # The manager's own drawing on the other chip becomes its reference: moved out of the annotations, and
    # the work already handed in on it is scored.
    annotate(client, manager, plain_chip, square(footprint(test_db, plain_chip), 0.4, 0.4))
    moved = client.post(f"{API}/projects/{world.project}/gold", headers=manager, json={"chip_id": plain_chip})
    assert moved.json() == {"chip_id": plain_chip, "references": 1, "moved_annotations": 1, "rescored": 0}
    # (the task on it was rejected: it is not handed-in work until it is submitted again)
    rework = client.post(f"{API}/projects/{world.project}/tasks/next", headers=labeler).json()
    assert rework["id"] == done[plain_chip]
    assert client.get(f"{API}/annotations?chip={plain_chip}", headers=labeler).json()["total"] == 1
    client.post(f"{API}/tasks/{rework['id']}/submit", headers=labeler)
    gold = client.get(stats_url, headers=labeler).json()["gold"]
    assert gold["tasks"] == 2 and gold["f1"] == pytest.approx((2 / 7 + 1.0) / 2)

    progress = client.get(f"{API}/projects/{world.project}/progress", headers=manager).json()["gold"]
    assert progress["chips"] == 2 and progress["scored_tasks"] == 2
    assert progress["labelers"][0]["username"] == world.users["labeler"]
    assert progress["f1"] == pytest.approx((2 / 7 + 1.0) / 2)
