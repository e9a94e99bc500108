"""The task state machine through the API: every transition, and every refused one with its status and
reason. open -> in_progress -> submitted -> accepted | rejected -> in_progress (rework) ...; skip."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_label import workflow
from tests.pg import TestDatabase
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
    "manager": ("U", "manager"),
}


@pytest.fixture
def world(test_db: TestDatabase, raster_dir: Path, data_dir: Path) -> World:
    # 768 x 256 pixels: three chips, so three tasks.
    return make_world(test_db, scene(raster_dir, 768, 256, seed=11), data_dir, members=MEMBERS)


def act(client: TestClient, world: World, who: str, task_id: str, action: str, **body: Any) -> Any:
    auth = headers(client, world.users[who])
    return client.post(f"{API}/tasks/{task_id}/{action}", headers=auth, json=body or None)


def take(client: TestClient, world: World, who: str) -> dict[str, Any]:
    response = client.post(
        f"{API}/projects/{world.project}/tasks/next", headers=headers(client, world.users[who])
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: Any, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert words in response.json()["detail"], response.json()


def annotation_status(client: TestClient, world: World, annotation_id: str) -> tuple[str, Any]:
    got = client.get(f"{API}/annotations/{annotation_id}", headers=headers(client, world.users["manager"]))
    assert got.status_code == 200, got.text
    return got.json()["status"], got.json()["reviewed_by"]


def test_lease_submit_reject_rework_accept(client: TestClient, test_db: TestDatabase, world: World) -> None:
    task = take(client, world, "labeler")
    task_id = task["id"]
    assert task["state"] == "in_progress" and task["assignee"] is not None
    assert task["marking"] == "UNCLASSIFIED" and task["chip"]["id"] == task["chip_id"]
    assert "gold" not in task  # labelers are never told which tasks are gold
    lease = datetime.fromisoformat(task["lease_expires_at"])
    assert take(client, world, "labeler")["id"] == task_id  # one lease at a time: the held task again
    others = take(client, world, "other")
    assert others["id"] != task_id

    refused(act(client, world, "other", task_id, "heartbeat"), 403, "assigned to another labeler")
    refused(act(client, world, "other", task_id, "submit"), 403, "assigned to another labeler")
    refused(act(client, world, "other", task_id, "skip"), 403, "assigned to another labeler")
    refused(act(client, world, "reviewer", task_id, "review", decision="accept"), 409, "in_progress")
    refused(act(client, world, "labeler", task_id, "review", decision="accept"), 403, "reviewer or manager")

    chip = footprint(test_db, task["chip_id"])
    drawn = annotate(client, headers(client, world.users["labeler"]), task["chip_id"], square(chip, 0.4, 0.4))
    beat = act(client, world, "labeler", task_id, "heartbeat")
    assert beat.status_code == 200 and datetime.fromisoformat(beat.json()["lease_expires_at"]) >= lease

    submitted = act(client, world, "labeler", task_id, "submit")
    assert submitted.status_code == 200 and submitted.json()["state"] == "submitted"
    assert submitted.json()["lease_expires_at"] is None
    assert annotation_status(client, world, drawn["id"]) == ("submitted", None)
    for action in ("heartbeat", "submit", "skip"):
        refused(act(client, world, "labeler", task_id, action), 409, "submitted, not in progress")

    refused(act(client, world, "reviewer", task_id, "review", decision="maybe"), 422, "accept, reject")
    refused(act(client, world, "reviewer", task_id, "review", decision="reject"), 422, "needs a comment")
    rejected = act(
        client, world, "reviewer", task_id, "review", decision="reject", comment="  Missed the shed. "
    )
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    status, reviewed_by = annotation_status(client, world, drawn["id"])
    assert status == "rejected" and reviewed_by is not None
    refused(act(client, world, "reviewer", task_id, "review", decision="accept"), 409, "rejected")

    seen = client.get(f"{API}/tasks/{task_id}", headers=headers(client, world.users["labeler"])).json()
    assert [(r["decision"], r["comment"]) for r in seen["reviews"]] == [("reject", "Missed the shed.")]
    assert seen["reviews"][0]["reviewer"] == world.users["reviewer"]

    rework = take(client, world, "labeler")  # a rejected task comes back to its labeler first
    assert rework["id"] == task_id and rework["state"] == "in_progress"
    assert rework["reviews"][0]["comment"] == "Missed the shed."
    assert act(client, world, "labeler", task_id, "submit").json()["submissions"] == 2
    assert annotation_status(client, world, drawn["id"])[0] == "submitted"
    accepted = act(client, world, "reviewer", task_id, "review", decision="accept")
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    assert annotation_status(client, world, drawn["id"])[0] == "accepted"

    for action in ("heartbeat", "submit", "skip"):
        refused(act(client, world, "labeler", task_id, action), 409, "accepted, not in progress")
    refused(
        act(client, world, "reviewer", task_id, "review", decision="reject", comment="no"), 409, "accepted"
    )
    reviews = client.get(f"{API}/tasks/{task_id}", headers=headers(client, world.users["reviewer"])).json()
    assert [r["decision"] for r in reviews["reviews"]] == ["reject", "accept"] and reviews["gold"] is False
    assert audit_actions(test_db, task_id) == [
        "task.lease",
        "task.submit",
        "task.review",
        "task.resume",
        "task.submit",
        "task.review",
    ]


def test_reviewers_never_review_their_own_work(client: TestClient, world: World) -> None:
    task = take(client, world, "reviewer")  # reviewers may label too
    assert act(client, world, "reviewer", task["id"], "submit").json()["state"] == "submitted"
    refused(act(client, world, "reviewer", task["id"], "review", decision="accept"), 403, "their own work")
    assert (
        act(client, world, "manager", task["id"], "review", decision="accept").json()["state"] == "accepted"
    )


def test_skip_returns_the_task_to_the_queue_for_others(client: TestClient, world: World) -> None:
    first = take(client, world, "labeler")
    skipped = act(client, world, "labeler", first["id"], "skip")
    assert (
        skipped.status_code == 200
        and skipped.json()["state"] == "open"
        and skipped.json()["assignee"] is None
    )
    refused(act(client, world, "labeler", first["id"], "skip"), 409, "open, not leased")
    refused(act(client, world, "labeler", first["id"], "submit"), 409, "open, not leased")
    second = take(client, world, "labeler")
    assert second["id"] != first["id"]  # the one skipped is not offered again to the same labeler
    assert take(client, world, "other")["id"] == first["id"]  # but it is to the others


def test_rejected_work_can_be_given_up(client: TestClient, world: World) -> None:
    task = take(client, world, "labeler")
    act(client, world, "labeler", task["id"], "submit")
    act(client, world, "reviewer", task["id"], "review", decision="reject", comment="redo")
    refused(act(client, world, "other", task["id"], "skip"), 403, "assigned to another labeler")
    given_up = act(client, world, "labeler", task["id"], "skip")
    assert given_up.status_code == 200 and given_up.json()["state"] == "open"


def test_without_review_submit_accepts(
    client: TestClient, test_db: TestDatabase, raster_dir: Path, data_dir: Path
) -> None:
    world = make_world(
        test_db,
        scene(raster_dir, 512, 256, seed=12),
        data_dir,
        members=MEMBERS,
        settings=workflow.WorkflowChanges(review_required=False),
    )
    task = take(client, world, "labeler")
    drawn = annotate(
        client,
        headers(client, world.users["labeler"]),
        task["chip_id"],
        square(footprint(test_db, task["chip_id"]), 0.3, 0.3),
    )
    done = act(client, world, "labeler", task["id"], "submit")
    assert done.status_code == 200 and done.json()["state"] == "accepted"
    assert annotation_status(client, world, drawn["id"])[0] == "accepted"
    refused(act(client, world, "reviewer", task["id"], "review", decision="accept"), 409, "accepted")


def test_empty_queue_listing_and_roles(client: TestClient, world: World) -> None:
    mine = take(client, world, "labeler")["id"]
    taken = {mine, take(client, world, "other")["id"], take(client, world, "reviewer")["id"]}
    assert len(taken) == 3
    empty = client.post(
        f"{API}/projects/{world.project}/tasks/next", headers=headers(client, world.users["manager"])
    )
    assert empty.status_code == 204 and empty.content == b""

    listing = f"{API}/projects/{world.project}/tasks"
    refused(client.get(listing, headers=headers(client, world.users["labeler"])), 403, "reviewer or manager")
    page = client.get(
        f"{listing}?state=in_progress&limit=2", headers=headers(client, world.users["reviewer"])
    )
    assert page.status_code == 200 and page.json()["total"] == 3 and len(page.json()["items"]) == 2
    assert (
        client.get(f"{listing}?state=open", headers=headers(client, world.users["manager"])).json()["total"]
        == 0
    )
    refused(
        client.get(f"{listing}?state=done", headers=headers(client, world.users["manager"])),
        422,
        "state must",
    )

    assert (
        client.get(f"{API}/tasks/{mine}", headers=headers(client, world.users["labeler"])).status_code == 200
    )
    assert (
        client.get(f"{API}/tasks/{mine}", headers=headers(client, world.users["manager"])).status_code == 200
    )
    refused(
        client.get(f"{API}/tasks/{mine}", headers=headers(client, world.users["other"])),
        403,
        "reviewer or manager",
    )


def test_a_reviewer_never_accepts_annotations_they_drew_on_the_task(
    client: TestClient, test_db: TestDatabase, world: World
) -> None:
    """Issue 17 item 6: never one's own work, annotation by annotation, not only the task's labeler's."""
    task = take(client, world, "labeler")
    chip = footprint(test_db, task["chip_id"])
    annotate(client, headers(client, world.users["labeler"]), task["chip_id"], square(chip, 0.2, 0.2))
    assert act(client, world, "labeler", task["id"], "submit").status_code == 200
    own = client.post(
        f"{API}/annotations",
        headers=headers(client, world.users["reviewer"]),
        json={
            "chip_id": task["chip_id"],
            "class": "building",
            "geometry": square(chip, 0.6, 0.6),
            "status": "submitted",
        },
    )
    assert own.status_code == 201, own.text
    refused(act(client, world, "reviewer", task["id"], "review", decision="accept"), 403, "you drew")
    assert annotation_status(client, world, own.json()["id"]) == ("submitted", None)
    assert act(client, world, "manager", task["id"], "review", decision="accept").status_code == 200


def test_a_labeler_changes_only_their_own_work_and_an_edit_returns_it_to_review(
    client: TestClient, test_db: TestDatabase, world: World
) -> None:
    """Issue 17 item 7: another member's annotation is not a labeler's to change; an accepted annotation
    changed by its labeler goes back to review, with its task."""
    task = take(client, world, "labeler")
    chip = footprint(test_db, task["chip_id"])
    drawn = annotate(client, headers(client, world.users["labeler"]), task["chip_id"], square(chip, 0.3, 0.3))
    url = f"{API}/annotations/{drawn['id']}"
    other = {**headers(client, world.users["other"]), "If-Match": '"1"'}
    refused(client.patch(url, headers=other, json={"attributes": {"floors": 9}}), 403, "their own")
    refused(client.delete(url, headers=other), 403, "their own")

    assert act(client, world, "labeler", task["id"], "submit").status_code == 200
    assert act(client, world, "reviewer", task["id"], "review", decision="accept").status_code == 200
    assert annotation_status(client, world, drawn["id"])[0] == "accepted"
    version = client.get(url, headers=headers(client, world.users["labeler"])).json()["version"]
    moved = client.patch(
        url,
        headers={**headers(client, world.users["labeler"]), "If-Match": f'"{version}"'},
        json={"geometry": square(chip, 0.5, 0.5)},
    )
    assert moved.status_code == 200, moved.text
    assert annotation_status(client, world, drawn["id"]) == ("submitted", None)
    state = client.get(f"{API}/tasks/{task['id']}", headers=headers(client, world.users["reviewer"]))
    assert state.json()["state"] == "submitted", "the task is back in review too"

    # A reviewer's own correction of accepted work keeps it accepted.
    assert act(client, world, "reviewer", task["id"], "review", decision="accept").status_code == 200
    current = client.get(url, headers=headers(client, world.users["reviewer"])).json()
    fixed = client.patch(
        url,
        headers={**headers(client, world.users["reviewer"]), "If-Match": f'"{current["version"]}"'},
        json={"geometry": square(chip, 0.4, 0.4)},
    )
    assert fixed.status_code == 200 and fixed.json()["status"] == "accepted"
