"""Tasks are marked content: a labeler never gets a task on a chip they may not read, a hidden task reads
exactly like a missing one on every route, counts include only readable tasks, and row-level security
filters the workflow tables underneath the service."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text

from geo_label import workflow
from tests.pg import TestDatabase
from tests.service.test_svc_workflow_support import API, World, headers, make_world, scene
from tests.world import ingest, make_user, unique

MEMBERS = {
    "labeler_u": ("U", "labeler"),
    "labeler_s": ("S", "labeler"),
    "reviewer_u": ("U", "reviewer"),
    "manager_s": ("S", "manager"),
}


@pytest.fixture
def world(test_db: TestDatabase, raster_dir: Path, data_dir: Path) -> World:
    """An UNCLASSIFIED project with two UNCLASSIFIED chips and two SECRET ones; all four tasks exist."""
    built = make_world(test_db, scene(raster_dir, 512, 256, seed=21), data_dir, members=MEMBERS)
    ingest(test_db, built.project, scene(raster_dir, 512, 256, seed=22), data_dir, "SECRET")
    # Ingest created the four tasks already; asking again creates nothing (idempotent).
    assert built.call("manager_s", lambda s, c: workflow.ensure_tasks(s, c, built.project)) == 0
    count = "SELECT count(*) FROM tasks WHERE project_id = :p"
    with test_db.as_system() as session:
        assert session.execute(text(count), {"p": built.project}).scalar_one() == 4
    return built


def take_all(client: TestClient, world: World, who: str) -> list[dict[str, Any]]:
    """Lease and submit until the queue has nothing more for ``who``."""
    auth = headers(client, world.users[who])
    taken = []
    while True:
        response = client.post(f"{API}/projects/{world.project}/tasks/next", headers=auth)
        if response.status_code == 204:
            return taken
        assert response.status_code == 200, response.text
        taken.append(response.json())
        assert client.post(f"{API}/tasks/{taken[-1]['id']}/submit", headers=auth).status_code == 200
        assert len(taken) <= 4


def same_answer(hidden: Response, missing: Response) -> None:
    assert hidden.status_code == missing.status_code == 404, (hidden.status_code, missing.status_code)
    assert hidden.content == missing.content
    assert dict(hidden.headers) == dict(missing.headers)


def test_a_labeler_never_gets_a_task_above_their_clearance(client: TestClient, world: World) -> None:
    unclassified = take_all(client, world, "labeler_u")
    assert len(unclassified) == 2 and {t["marking"] for t in unclassified} == {"UNCLASSIFIED"}
    secret = take_all(client, world, "labeler_s")
    assert len(secret) == 2 and all(t["marking"].startswith("SECRET") for t in secret)
    assert all(t["marking"] == t["chip"]["marking"] for t in secret)  # a task carries its chip's marking


def test_a_hidden_task_reads_like_a_missing_one(client: TestClient, world: World) -> None:
    secret_task = client.post(
        f"{API}/projects/{world.project}/tasks/next", headers=headers(client, world.users["manager_s"])
    ).json()
    # The manager holds the first task in the queue: make sure it is a SECRET one for this test.
    if not secret_task["marking"].startswith("SECRET"):
        secret_task = next(
            t
            for t in client.get(
                f"{API}/projects/{world.project}/tasks", headers=headers(client, world.users["manager_s"])
            ).json()["items"]
            if t["marking"].startswith("SECRET")
        )
    hidden, missing = secret_task["id"], str(uuid.uuid4())
    for who in ("labeler_u", "reviewer_u"):
        auth = headers(client, world.users[who])
        same_answer(
            client.get(f"{API}/tasks/{hidden}", headers=auth),
            client.get(f"{API}/tasks/{missing}", headers=auth),
        )
        same_answer(
            client.get(f"{API}/tasks/{hidden}/agreement", headers=auth),
            client.get(f"{API}/tasks/{missing}/agreement", headers=auth),
        )
        for action, body in (
            ("heartbeat", None),
            ("submit", None),
            ("skip", None),
            ("review", {"decision": "accept"}),
        ):
            same_answer(
                client.post(f"{API}/tasks/{hidden}/{action}", headers=auth, json=body),
                client.post(f"{API}/tasks/{missing}/{action}", headers=auth, json=body),
            )


def test_listings_and_progress_count_only_readable_tasks(client: TestClient, world: World) -> None:
    listing = f"{API}/projects/{world.project}/tasks"
    low = client.get(listing, headers=headers(client, world.users["reviewer_u"])).json()
    assert low["total"] == 2 == len(low["items"]) and {t["marking"] for t in low["items"]} == {"UNCLASSIFIED"}
    high = client.get(listing, headers=headers(client, world.users["manager_s"])).json()
    assert high["total"] == 4 == len(high["items"])
    progress = client.get(
        f"{API}/projects/{world.project}/progress", headers=headers(client, world.users["manager_s"])
    )
    assert progress.status_code == 200 and progress.json()["tasks"]["total"] == 4
    assert progress.json()["tasks"]["by_state"]["open"] == 4 and progress.json()["chips"] == 4
    refused = client.get(
        f"{API}/projects/{world.project}/progress", headers=headers(client, world.users["reviewer_u"])
    )
    assert refused.status_code == 403


def test_outsiders_see_no_queue(client: TestClient, test_db: TestDatabase, world: World) -> None:
    outsider = make_user(test_db, unique("outsider"), "TS")
    auth = headers(client, outsider)
    hidden = client.post(f"{API}/projects/{world.project}/tasks/next", headers=auth)
    missing = client.post(f"{API}/projects/{uuid.uuid4()}/tasks/next", headers=auth)
    same_answer(hidden, missing)
    same_answer(
        client.get(f"{API}/projects/{world.project}/tasks", headers=auth),
        client.get(f"{API}/projects/{uuid.uuid4()}/tasks", headers=auth),
    )


def test_row_level_security_filters_the_workflow_tables(test_db: TestDatabase, world: World) -> None:
    """Underneath the service's filter: raw SQL as the service role sees only what the caller may read."""
    counts = {}
    for who in ("labeler_u", "manager_s"):
        caller = world.caller(who)
        with test_db.as_caller(caller) as session:
            counts[who] = session.execute(
                text("SELECT count(*) FROM tasks WHERE project_id = :p"), {"p": world.project}
            ).scalar_one()
            # Writing a task one could not read back is refused by the policy too.
            updated = session.execute(
                text("UPDATE tasks SET priority = priority + 1 WHERE project_id = :p AND classification = 2"),
                {"p": world.project},
            )
            assert updated.rowcount == (2 if who == "manager_s" else 0)  # type: ignore[attr-defined]
    assert counts == {"labeler_u": 2, "manager_s": 4}
