"""Issue 15, fair treatment of labelers: a rejection can be appealed once, with a comment, to a reviewer other
than the one who rejected it; that second decision stands, and everything is kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.pg import TestDatabase
from tests.service.test_svc_workflow_states import act, annotation_status, refused, take
from tests.service.test_svc_workflow_support import (
    API,
    World,
    annotate,
    audit_actions,
    footprint,
    headers,
    make_world,
    scene,
    square,
)

MEMBERS = {
    "labeler": ("U", "labeler"),
    "other": ("U", "labeler"),
    "reviewer": ("U", "reviewer"),
    "second_reviewer": ("U", "reviewer"),
    "manager": ("U", "manager"),
}


@pytest.fixture
def world(test_db: TestDatabase, raster_dir: Path, data_dir: Path) -> World:
    return make_world(test_db, scene(raster_dir, 512, 256, seed=12), data_dir, members=MEMBERS)


def rejected_task(client: TestClient, test_db: TestDatabase, world: World) -> tuple[str, str]:
    task = take(client, world, "labeler")
    chip = footprint(test_db, task["chip_id"])
    drawn = annotate(client, headers(client, world.users["labeler"]), task["chip_id"], square(chip, 0.4, 0.4))
    assert act(client, world, "labeler", task["id"], "submit").status_code == 200
    rejected = act(client, world, "reviewer", task["id"], "review", decision="reject", comment="Wrong class.")
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    return task["id"], drawn["id"]


def test_an_appeal_goes_to_another_reviewer_whose_decision_stands(
    client: TestClient, test_db: TestDatabase, world: World
) -> None:
    task_id, drawn = rejected_task(client, test_db, world)
    refused(act(client, world, "other", task_id, "appeal", comment="mine too"), 403, "only the labeler")
    refused(act(client, world, "labeler", task_id, "appeal", comment="  "), 422, "needs a comment")
    appealed = act(client, world, "labeler", task_id, "appeal", comment="It is a building: see the shadow.")
    assert appealed.status_code == 200 and appealed.json()["state"] == "submitted", appealed.text
    assert annotation_status(client, world, drawn)[0] == "submitted"

    refused(act(client, world, "reviewer", task_id, "review", decision="accept"), 403, "other than you")
    seen = client.get(
        f"{API}/tasks/{task_id}", headers=headers(client, world.users["second_reviewer"])
    ).json()
    assert seen["appeal"]["comment"] == "It is a building: see the shadow."
    assert seen["appeal"]["rejected_by"] == world.users["reviewer"] and seen["appeal"]["decided"] is False
    second = act(
        client, world, "second_reviewer", task_id, "review", decision="reject", comment="Still wrong."
    )
    assert second.status_code == 200 and second.json()["state"] == "rejected"
    refused(act(client, world, "labeler", task_id, "appeal", comment="again"), 409, "appealed once already")

    kept = client.get(f"{API}/tasks/{task_id}", headers=headers(client, world.users["labeler"])).json()
    assert [(r["decision"], r["reviewer"]) for r in kept["reviews"]] == [
        ("reject", world.users["reviewer"]),
        ("reject", world.users["second_reviewer"]),
    ]
    assert kept["appeal"]["decided"] is True
    assert "task.appeal" in audit_actions(test_db, task_id)


def test_only_a_rejected_task_is_appealed(client: TestClient, test_db: TestDatabase, world: World) -> None:
    task = take(client, world, "labeler")
    refused(act(client, world, "labeler", task["id"], "appeal", comment="why"), 409, "in_progress")


def test_a_labeler_has_their_own_record_over_any_period(
    client: TestClient, test_db: TestDatabase, world: World
) -> None:
    """Issue 15: every task of theirs with its state, time on task and the reviewer's comment, the
    acceptance rate, over a period; as CSV with the banner first."""
    auth = headers(client, world.users["labeler"])
    task_id, _ = rejected_task(client, test_db, world)
    record = client.get(f"{API}/me/record", headers=auth)
    assert record.status_code == 200, record.text
    body = record.json()
    assert body["banner"] == "UNCLASSIFIED" and body["tasks"] == 1 and body["rejected"] == 1
    assert body["acceptance_rate"] == 0.0
    [item] = body["items"]
    assert (
        item["task"] == task_id and item["state"] == "rejected" and item["review_comment"] == "Wrong class."
    )
    assert item["reviewer"] == world.users["reviewer"] and item["minutes_on_task"] >= 0
    future = client.get(f"{API}/me/record?since=2100-01-01T00:00:00Z", headers=auth).json()
    assert future["tasks"] == 0 and future["acceptance_rate"] is None
    csv_text = client.get(f"{API}/me/record?format=csv", headers=auth)
    assert csv_text.headers["content-type"].startswith("text/csv")
    lines = csv_text.text.splitlines()
    assert lines[0] == "UNCLASSIFIED" and lines[1].startswith("project,task,chip,state")
    assert task_id in lines[2] and "Wrong class." in lines[2]
    other = client.get(f"{API}/me/record", headers=headers(client, world.users["other"])).json()
    assert other["tasks"] == 0, "only one's own work"
