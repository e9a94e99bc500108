"""Leases: two hours by default (a project setting), extended by heartbeats; a lapsed lease returns the task
to the queue and the labeler's drafts stay on the chip."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_label import annotations, workflow
from geo_label.errors import ConflictError, PermissionDeniedError
from tests.pg import TestDatabase
from tests.service.test_svc_workflow_support import (
    API,
    World,
    audit_actions,
    footprint,
    headers,
    make_world,
    owner,
    scene,
    square,
)

MEMBERS = {"labeler": ("U", "labeler"), "other": ("U", "labeler"), "manager": ("U", "manager")}
T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def world(test_db: TestDatabase, raster_dir: Path, data_dir: Path) -> World:
    # 256 x 256 pixels: a single chip, so a single task.
    return make_world(test_db, scene(raster_dir, 256, 256, seed=31), data_dir, members=MEMBERS)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def test_heartbeat_extends_and_expiry_returns_the_task_with_its_drafts(
    test_db: TestDatabase, world: World
) -> None:
    task = world.next("labeler", now=T0)
    assert task["lease_expires_at"] == minutes(120)  # the default lease: two hours
    beat = world.call("labeler", lambda s, c: workflow.heartbeat(s, c, task["id"], now=minutes(100)))
    assert beat["lease_expires_at"] == minutes(220)

    draft_input = annotations.AnnotationInput(
        chip_id=task["chip_id"],
        label_class="building",
        geometry=square(footprint(test_db, task["chip_id"]), 0.2, 0.2),
    )
    draft = world.call("labeler", lambda s, c: annotations.create_annotation(s, c, draft_input))

    with pytest.raises(ConflictError, match="expired"):
        world.call("labeler", lambda s, c: workflow.heartbeat(s, c, task["id"], now=minutes(221)))
    with pytest.raises(ConflictError, match="expired"):
        world.call("labeler", lambda s, c: workflow.submit(s, c, task["id"], now=minutes(221)))

    taken_over = world.next("other", now=minutes(221))  # the lapsed lease went back to the queue
    assert taken_over["id"] == task["id"] and taken_over["assignee"] == world.caller("other").user_id
    assert taken_over["lease_expires_at"] == minutes(341)
    with pytest.raises(PermissionDeniedError, match="another labeler"):
        world.call("labeler", lambda s, c: workflow.submit(s, c, task["id"], now=minutes(222)))

    kept = world.call("other", lambda s, c: annotations.get_annotation(s, c, draft["id"]))
    assert kept["status"] == "draft" and kept["created_by"] == world.caller("labeler").user_id
    done = world.call("other", lambda s, c: workflow.submit(s, c, task["id"], now=minutes(251)))
    assert done["state"] == "submitted" and done["work_seconds"] == 30 * 60  # only the new labeler's session
    handed_in = world.call("other", lambda s, c: annotations.get_annotation(s, c, draft["id"]))
    assert handed_in["status"] == "submitted"  # one labeler per chip: the drafts left on it are the work
    assert audit_actions(test_db, task["id"]) == [
        "task.lease",
        "task.lease_expired",
        "task.lease",
        "task.submit",
    ]


def test_time_on_task_is_capped_by_the_lease(world: World) -> None:
    task = world.next("labeler", now=T0)
    world.call("labeler", lambda s, c: workflow.heartbeat(s, c, task["id"], now=minutes(119)))
    done = world.call("labeler", lambda s, c: workflow.submit(s, c, task["id"], now=minutes(150)))
    assert done["work_seconds"] == 150 * 60


def test_expiry_through_the_api(client: TestClient, test_db: TestDatabase, world: World) -> None:
    auth = headers(client, world.users["labeler"])
    task = client.post(f"{API}/projects/{world.project}/tasks/next", headers=auth).json()
    with owner(test_db) as connection:  # the clock moves on: the lease lapsed a minute ago
        connection.execute(
            "UPDATE tasks SET lease_expires_at = now() - interval '1 minute' WHERE id = %s", (task["id"],)
        )
    lapsed = client.post(f"{API}/tasks/{task['id']}/heartbeat", headers=auth)
    assert lapsed.status_code == 409 and "expired" in lapsed.json()["detail"]
    again = client.post(f"{API}/projects/{world.project}/tasks/next", headers=auth)
    assert again.status_code == 200 and again.json()["id"] == task["id"]
    assert datetime.fromisoformat(again.json()["lease_expires_at"]) > datetime.now(UTC) + timedelta(
        minutes=119
    )
    assert audit_actions(test_db, task["id"]) == ["task.lease", "task.lease_expired", "task.lease"]


def test_the_lease_length_is_a_project_setting(client: TestClient, world: World) -> None:
    settings = f"{API}/projects/{world.project}/workflow"
    manager, labeler = headers(client, world.users["manager"]), headers(client, world.users["labeler"])
    assert client.get(settings, headers=labeler).json() == {
        "review_required": True,
        "lease_minutes": 120,
        "consensus_k": 1,
        "agreement_threshold": 0.7,
        "queue_order": "default",
        "queue_model_id": None,
        "queue_threshold": 0.5,
    }
    assert client.patch(settings, headers=labeler, json={"lease_minutes": 5}).status_code == 403
    for bad in ({"lease_minutes": 0}, {"consensus_k": 11}, {"agreement_threshold": 1.5}):
        assert client.patch(settings, headers=manager, json=bad).status_code == 422
    changed = client.patch(settings, headers=manager, json={"lease_minutes": 5})
    assert changed.status_code == 200 and changed.json()["lease_minutes"] == 5
    before = datetime.now(UTC)
    task = client.post(f"{API}/projects/{world.project}/tasks/next", headers=labeler).json()
    lease = datetime.fromisoformat(task["lease_expires_at"]) - before
    assert timedelta(minutes=4) < lease <= timedelta(minutes=5, seconds=5)


def test_a_held_task_locked_by_another_request_is_waited_for_not_passed_over(
    test_db: TestDatabase, raster_dir: Path, data_dir: Path
) -> None:
    """The labeler's own task is read under a lock it waits for (issue 21 made the held and rework lookups one
    statement): while another request of theirs (a submit in another tab) holds the row, the next-task
    request waits, and never leases them a second task beside it."""
    two_chips = make_world(test_db, scene(raster_dir, 480, 256, seed=32), data_dir, members=MEMBERS)
    held = two_chips.next("labeler", now=T0)
    answer: list[Any] = []
    with owner(test_db) as connection, connection.transaction():
        connection.execute("SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", (held["id"],))
        asking = threading.Thread(target=lambda: answer.append(two_chips.next("labeler", now=minutes(1))))
        asking.start()
        asking.join(timeout=1.0)
        assert asking.is_alive(), "the request waits for the row"
    asking.join(timeout=30)
    assert [task["id"] for task in answer] == [held["id"]]
    assert audit_actions(test_db, held["id"]) == ["task.lease"]


def test_a_request_takes_one_lapsed_lease_and_leaves_the_others_to_the_system(
    test_db: TestDatabase, raster_dir: Path, data_dir: Path
) -> None:
    """Issue 16: the next-task request of one labeler no longer returns everyone's lapsed leases to the queue
    under that labeler's name. It takes the longest-lapsed task (before any open one); the lapse is the
    system's act in the audit; another lapsed lease stays as it was."""
    people = {"a": ("U", "labeler"), "b": ("U", "labeler"), "c": ("U", "labeler")}
    three_chips = make_world(test_db, scene(raster_dir, 704, 256, seed=33), data_dir, members=people)
    first = three_chips.next("a", now=T0)
    second = three_chips.next("b", now=minutes(10))
    taken = three_chips.next("c", now=minutes(200))  # both lapsed (two hours); a's the longest
    assert taken["id"] == first["id"] and taken["assignee"] == three_chips.caller("c").user_id
    with owner(test_db) as connection:
        untouched = connection.execute(
            "SELECT state, assignee FROM tasks WHERE id = %s", (second["id"],)
        ).fetchone()
        lapse = connection.execute(
            "SELECT actor_id, actor_name, details->>'previous_assignee' FROM audit_log "
            "WHERE action = 'task.lease_expired' AND item_id = %s",
            (str(first["id"]),),
        ).fetchall()
    assert untouched == ("in_progress", three_chips.caller("b").user_id)
    assert lapse == [(None, "system", str(three_chips.caller("a").user_id))]
    assert audit_actions(test_db, second["id"]) == ["task.lease"]
    assert audit_actions(test_db, first["id"]) == ["task.lease", "task.lease_expired", "task.lease"]
