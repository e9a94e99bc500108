"""GET /me/tasks, "my recent work": the caller's own tasks across projects, newest first, with the reviewer's
comment on rejected ones; never another labeler's, never one the caller may no longer read (the service's
filter, and row-level security underneath it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from access_control import default_registry
from geo_label import users, workflow
from tests.pg import TestDatabase
from tests.service.test_svc_workflow_support import API, World, headers, make_world, scene
from tests.world import ingest

MEMBERS = {"labeler": ("S", "labeler"), "other": ("U", "labeler"), "reviewer": ("S", "reviewer")}


def take_and_submit(client: TestClient, world: World, who: str, *, submit: bool = True) -> dict[str, Any]:
    auth = headers(client, world.users[who])
    response = client.post(f"{API}/projects/{world.project}/tasks/next", headers=auth)
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    if submit:
        assert client.post(f"{API}/tasks/{task['id']}/submit", headers=auth).status_code == 200
    return task


def review(client: TestClient, world: World, task_id: str, decision: str, comment: str = "") -> None:
    response = client.post(
        f"{API}/tasks/{task_id}/review",
        headers=headers(client, world.users["reviewer"]),
        json={"decision": decision, "comment": comment},
    )
    assert response.status_code == 200, response.text


def recent(client: TestClient, world: World, who: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"{API}/me/tasks", headers=headers(client, world.users[who]), params=params)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.fixture
def world(client: TestClient, test_db: TestDatabase, raster_dir: Path, data_dir: Path) -> Any:
    """Three UNCLASSIFIED chips and a SECRET one. The labeler handed in two UNCLASSIFIED chips (the first
    rejected with a comment, the second accepted) and holds the SECRET one; the other labeler handed in the
    third UNCLASSIFIED chip."""
    built = make_world(test_db, scene(raster_dir, 768, 256, seed=41), data_dir, members=MEMBERS)
    ingest(test_db, built.project, scene(raster_dir, 256, 256, seed=42), data_dir, "SECRET")
    first = take_and_submit(client, built, "labeler")
    second = take_and_submit(client, built, "labeler")
    theirs = take_and_submit(client, built, "other")
    held = take_and_submit(client, built, "labeler", submit=False)
    assert held["marking"].startswith("SECRET") and first["marking"] == second["marking"] == "UNCLASSIFIED"
    review(client, built, first["id"], "reject", "the roof is missing")
    review(client, built, second["id"], "accept")
    return built, {"first": first, "second": second, "theirs": theirs, "held": held}


def test_own_tasks_newest_first_with_the_rejection_comment(client: TestClient, world: Any) -> None:
    built, tasks = world
    items = recent(client, built, "labeler")
    # Newest first: accepted last, rejected before it, the SECRET lease before both.
    assert [i["id"] for i in items] == [tasks["second"]["id"], tasks["first"]["id"], tasks["held"]["id"]]
    second, first, held = items
    assert [i["state"] for i in items] == ["accepted", "rejected", "in_progress"]
    assert all(i["assigned"] and i["project_id"] == str(built.project) for i in items)
    assert {i["project_name"] for i in items} == {items[0]["project_name"]} and items[0]["project_name"]
    assert first["review_comment"] == "the roof is missing"
    assert first["reviewer"] == built.users["reviewer"]
    assert second["review_comment"] is None and held["review_comment"] is None
    assert held["marking"].startswith("SECRET") and first["marking"] == "UNCLASSIFIED"
    assert held["chip_id"] == tasks["held"]["chip_id"]
    assert items[0]["updated_at"] >= items[1]["updated_at"] >= items[2]["updated_at"]
    # Another labeler's work is theirs alone; a reviewer's reviews are not their tasks.
    assert [i["id"] for i in recent(client, built, "other")] == [tasks["theirs"]["id"]]
    assert recent(client, built, "reviewer") == []


def test_limit(client: TestClient, world: Any) -> None:
    built, tasks = world
    assert [i["id"] for i in recent(client, built, "labeler", limit=1)] == [tasks["second"]["id"]]
    assert len(recent(client, built, "labeler", limit=100)) == 3
    auth = headers(client, built.users["labeler"])
    for bad in ("0", "101", "-1", "many"):
        response = client.get(f"{API}/me/tasks", headers=auth, params={"limit": bad})
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["code"] == "invalid"


def test_a_hidden_task_is_never_listed_after_a_clearance_is_lowered(
    client: TestClient, test_db: TestDatabase, world: Any
) -> None:
    built, tasks = world
    stale = built.caller("labeler")  # the labeler's attributes while still cleared SECRET
    with test_db.as_system() as session:
        lowered = users.Clearance.parse("U", citizenship="USA", registry=default_registry())
        users.set_clearance(
            session, session.info["caller"], username=built.users["labeler"], clearance=lowered
        )
    items = recent(client, built, "labeler")
    assert [i["id"] for i in items] == [tasks["second"]["id"], tasks["first"]["id"]]
    assert tasks["held"]["id"] not in {i["id"] for i in recent(client, built, "labeler", limit=100)}
    # Row-level security alone hides it too: the service's filter built from the stale (SECRET) attributes
    # lets it through under a SECRET database context, not under the lowered one.
    with test_db.as_caller(stale) as session:
        assert tasks["held"]["id"] in {str(r["id"]) for r in workflow.recent_tasks(session, stale, limit=100)}
    with test_db.as_caller(built.caller("labeler")) as session:
        rows = workflow.recent_tasks(session, stale, limit=100)
    assert [str(r["id"]) for r in rows] == [tasks["second"]["id"], tasks["first"]["id"]]


def test_work_handed_in_then_given_back_stays_listed_without_the_comment(
    client: TestClient, world: Any
) -> None:
    built, tasks = world
    auth = headers(client, built.users["labeler"])
    assert client.post(f"{API}/tasks/{tasks['first']['id']}/skip", headers=auth).status_code == 200
    items = {i["id"]: i for i in recent(client, built, "labeler")}
    given_back = items[tasks["first"]["id"]]
    assert given_back["state"] == "open" and given_back["assigned"] is False
    assert given_back["review_comment"] is None
    assert next(iter(items)) == tasks["first"]["id"]  # the newest change
