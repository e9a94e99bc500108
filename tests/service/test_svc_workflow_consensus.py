"""Consensus: features matched per class at IoU >= 0.5 (greedy, one-to-one), pair agreement = matched /
max(count_a, count_b), averaged over pairs; exact values on hand-made geometries, then through the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, box

from geo_label import workflow
from geo_label.workflow.consensus import Feature, iou, match, mean_agreement, pair_agreement
from tests.pg import TestDatabase
from tests.service.test_svc_workflow_support import (
    API,
    annotate,
    footprint,
    headers,
    make_world,
    scene,
    square,
)

UNIT = box(0, 0, 1, 1)


def shifted(d: float) -> Feature:
    return Feature("building", box(d, 0, 1 + d, 1))


def test_iou_of_hand_made_squares() -> None:
    assert iou(UNIT, UNIT) == 1.0
    assert iou(UNIT, box(0.25, 0, 1.25, 1)) == pytest.approx(0.6)  # (1 - d) / (1 + d)
    assert iou(UNIT, box(0.5, 0, 1.5, 1)) == pytest.approx(1 / 3)
    assert iou(UNIT, box(2, 2, 3, 3)) == 0.0
    assert iou(UNIT, box(0, 0, 0.5, 1)) == pytest.approx(0.5)  # contained half: exactly the threshold


def test_points_have_no_area_and_are_compared_as_buffers() -> None:
    assert iou(Point(0, 0), Point(0, 0)) == 1.0 and iou(Point(0, 0), Point(0, 1)) == 0.0
    assert iou(Point(0, 0), Point(0.01, 0), buffer=1.0) > 0.98
    assert iou(Point(0, 0), Point(3, 0), buffer=1.0) == 0.0


def test_matching_is_per_class_one_to_one_and_takes_the_best_first() -> None:
    a = [shifted(0)]
    assert match(a, [shifted(0.25), shifted(0)])[0].b == 1  # the exact copy, not the first acceptable one
    assert len(match([shifted(0), shifted(0)], [shifted(0)])) == 1  # one-to-one
    assert match(a, [Feature("vehicle", UNIT)]) == []  # same shape, other class: no match
    assert match(a, [shifted(0.5)]) == []  # IoU 1/3 < 0.5
    assert pair_agreement([shifted(0), shifted(0)], [shifted(0)]) == 0.5
    assert pair_agreement([], []) == 1.0 and pair_agreement([shifted(0)], []) == 0.0


def three_labelers() -> list[list[Feature]]:
    """A: building 1, building 2, vehicle 3. B: building 1 moved by 1/4 (IoU 0.6: a match), building 2 moved
    by 1/2 (IoU 1/3: none), building 3 (the class differs from A's and C's vehicle). C: vehicle 3, building 1.
    A-B 1/3, A-C 2/3, B-C 1/3: mean 4/9."""
    one, two, three = box(0, 0, 1, 1), box(5, 0, 6, 1), box(10, 0, 11, 1)
    a = [Feature("building", one), Feature("building", two), Feature("vehicle", three)]
    b = [
        Feature("building", box(0.25, 0, 1.25, 1)),
        Feature("building", box(5.5, 0, 6.5, 1)),
        Feature("building", three),
    ]
    c = [Feature("vehicle", three), Feature("building", one)]
    return [a, b, c]


def test_agreement_over_pairs() -> None:
    a, b, c = three_labelers()
    assert pair_agreement(a, b) == pytest.approx(1 / 3)
    assert pair_agreement(a, c) == pytest.approx(2 / 3)
    assert pair_agreement(b, c) == pytest.approx(1 / 3)
    assert mean_agreement([a, b, c]) == pytest.approx(4 / 9)
    assert mean_agreement([a]) is None


def test_three_labelers_on_one_chip_through_the_api(
    client: TestClient, test_db: TestDatabase, raster_dir: Path, data_dir: Path
) -> None:
    members = {
        "a": ("U", "labeler"),
        "b": ("U", "labeler"),
        "c": ("U", "labeler"),
        "reviewer": ("U", "reviewer"),
        "manager": ("U", "manager"),
    }
    world = make_world(
        test_db,
        scene(raster_dir, 256, 256, seed=51),
        data_dir,
        members=members,
        settings=workflow.WorkflowChanges(consensus_k=3),
    )
    tasks = {}
    for name in ("a", "b", "c"):
        response = client.post(
            f"{API}/projects/{world.project}/tasks/next", headers=headers(client, world.users[name])
        )
        assert response.status_code == 200, response.text
        tasks[name] = response.json()
    assert len({t["chip_id"] for t in tasks.values()}) == 1  # one chip ...
    assert sorted(t["replica"] for t in tasks.values()) == [0, 1, 2]  # ... three independent labelers
    chip = footprint(test_db, tasks["a"]["chip_id"])
    drawings = {
        "a": [(0.1, 0, "building"), (0.4, 0, "building"), (0.7, 0, "vehicle")],
        "b": [(0.1, 0.25, "building"), (0.4, 0.5, "building"), (0.7, 0, "building")],
        "c": [(0.7, 0, "vehicle"), (0.1, 0, "building")],
    }
    for name, shapes in drawings.items():
        auth = headers(client, world.users[name])
        for fx, shift, label_class in shapes:
            annotate(client, auth, tasks[name]["chip_id"], square(chip, fx, 0.4, shift=shift), label_class)
        assert client.post(f"{API}/tasks/{tasks[name]['id']}/submit", headers=auth).status_code == 200
        again = client.post(f"{API}/projects/{world.project}/tasks/next", headers=auth)
        assert again.status_code == 204  # never a second replica of the same chip

    url = f"{API}/tasks/{tasks['a']['id']}/agreement"
    assert client.get(url, headers=headers(client, world.users["a"])).status_code == 403
    result = client.get(url, headers=headers(client, world.users["reviewer"])).json()
    assert (
        result["agreement"] == pytest.approx(4 / 9)
        and result["flagged"] is True
        and result["threshold"] == 0.7
    )
    by_name = {entry["username"]: entry for entry in result["labelers"]}
    assert {name: by_name[world.users[name]]["features"] for name in "abc"} == {"a": 3, "b": 3, "c": 2}
    task_of = {str(tasks[name]["id"]): name for name in "abc"}
    pairs = {
        tuple(sorted((task_of[p["task_a"]], task_of[p["task_b"]]))): (p["matched"], p["agreement"])
        for p in result["pairs"]
    }
    assert pairs == {
        ("a", "b"): (1, pytest.approx(1 / 3)),
        ("a", "c"): (2, pytest.approx(2 / 3)),
        ("b", "c"): (1, pytest.approx(1 / 3)),
    }

    progress = client.get(
        f"{API}/projects/{world.project}/progress", headers=headers(client, world.users["manager"])
    )
    summary = progress.json()["agreement"]
    assert summary["chips_compared"] == 1 and summary["mean"] == pytest.approx(4 / 9)
    assert summary["flagged_count"] == 1 and summary["flagged"][0]["chip_id"] == tasks["a"]["chip_id"]
    assert progress.json()["tasks"]["by_state"]["submitted"] == 3
