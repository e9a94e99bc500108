"""Under concurrency no task is handed to two labelers and none is lost: 100 labelers ask for their next
task at the same moment, each in a transaction of its own (threads, their own connections)."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_label import workflow
from geo_label.db.context import Caller
from geo_label.db.engine import Database
from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.service.test_svc_workflow_support import API, make_world, owner, scene
from tests.world import add_member, caller, make_user, unique

LABELERS = 100


@pytest.fixture
def wide_pool(test_db: TestDatabase) -> Iterator[Database]:
    """Up to 60 connections at once (the server allows 100): the other 40 threads queue for one."""
    database = Database.connect(test_db.owner_url, audit_key=test_db.database.audit_key, pool_size=30)
    try:
        yield database
    finally:
        database.dispose()


def all_at_once(
    callers: list[Caller], action: Callable[[Caller], Any]
) -> tuple[list[Any], list[float], float]:
    """Run ``action`` for every caller in its own thread, released together; results, latencies, wall time."""
    barrier = threading.Barrier(len(callers))
    latencies: list[float] = [0.0] * len(callers)

    def run(index: int) -> Any:
        barrier.wait()
        started = time.perf_counter()
        try:
            return action(callers[index])
        finally:
            latencies[index] = time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(callers)) as pool:
        results = list(pool.map(run, range(len(callers))))
    return results, latencies, time.perf_counter() - started


def report(label: str, handed: int, latencies: list[float], wall: float) -> None:
    ordered = sorted(latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    print(
        f"\n{label}: {len(latencies)} requests, {handed} tasks handed, wall {wall:.2f} s, "
        f"latency p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms"
    )


def states(test_db: TestDatabase, project: uuid.UUID) -> dict[str, int]:
    with owner(test_db) as connection:
        rows = connection.execute(
            "SELECT state, count(*) FROM tasks WHERE project_id = %s GROUP BY state", (project,)
        )
        return {state: int(n) for state, n in rows}


def test_100_concurrent_next_task_requests(
    test_db: TestDatabase, wide_pool: Database, raster_dir: Path, data_dir: Path
) -> None:
    # 1152 x 1024 pixels in 128-pixel chips: 72 chips, two labelers each (consensus): 144 tasks.
    world = make_world(
        test_db,
        scene(raster_dir, 1152, 1024, seed=41),
        data_dir,
        chip_size=128,
        settings=workflow.WorkflowChanges(consensus_k=2),
    )
    names = [make_user(test_db, unique("crowd"), "U") for _ in range(LABELERS)]
    for name in names:
        add_member(test_db, world.project, name, "labeler")
    callers = [caller(test_db, name) for name in names]

    def next_task(who: Caller) -> uuid.UUID | None:
        with wide_pool.transaction(who) as session:
            row = workflow.next_task(session, who, world.project)  # tasks are created by this first race too
            return None if row is None else row["id"]

    def submit(who: Caller, task_id: uuid.UUID) -> None:
        with wide_pool.transaction(who) as session:
            workflow.submit(session, who, task_id)

    first, latencies, wall = all_at_once(callers, next_task)
    report(
        "round 1 (144 tasks created lazily, 100 labelers)", sum(t is not None for t in first), latencies, wall
    )
    assert None not in first and len(set(first)) == LABELERS  # everyone got one, no task twice
    assert states(test_db, world.project) == {"in_progress": 100, "open": 44}

    by_user = dict(zip([c.user_id for c in callers], first, strict=True))
    all_at_once(callers, lambda who: submit(who, by_user[who.user_id]))

    second, latencies, wall = all_at_once(callers, next_task)
    handed = [t for t in second if t is not None]
    report("round 2 (44 tasks left, 100 labelers)", len(handed), latencies, wall)
    assert len(handed) == len(set(handed)) == 44  # every task left was handed, once
    assert not set(handed) & set(first)
    assert states(test_db, world.project) == {"submitted": 100, "in_progress": 44}

    with owner(test_db) as connection:
        assignments = connection.execute(
            "SELECT id, chip_id, assignee FROM tasks WHERE project_id = %s", (world.project,)
        ).fetchall()
    assert len(assignments) == 144 and {r[0] for r in assignments} == set(first) | set(handed)  # none lost
    chips_per_labeler = [(r[1], r[2]) for r in assignments]
    assert len(set(chips_per_labeler)) == 144  # consensus: never two replicas of a chip for one labeler
    for task_id, _, assignee in assignments:
        assert by_user.get(assignee) == task_id or task_id in handed


def test_concurrent_requests_through_the_api(
    client: TestClient, test_db: TestDatabase, raster_dir: Path, data_dir: Path
) -> None:
    """The same through HTTP: 20 labelers, 8 tasks (512 x 256 pixels in 128-pixel chips)."""
    world = make_world(test_db, scene(raster_dir, 512, 256, seed=42), data_dir, chip_size=128)
    names = [make_user(test_db, unique("http"), "U") for _ in range(20)]
    for name in names:
        add_member(test_db, world.project, name, "labeler")
    with ThreadPoolExecutor(max_workers=20) as pool:
        auths = list(pool.map(lambda name: token(client, name), names))
    barrier = threading.Barrier(len(auths))

    def ask(auth: dict[str, str]) -> tuple[int, str | None]:
        barrier.wait()
        response = client.post(f"{API}/projects/{world.project}/tasks/next", headers=auth)
        return response.status_code, response.json()["id"] if response.status_code == 200 else None

    with ThreadPoolExecutor(max_workers=len(auths)) as pool:
        answers = list(pool.map(ask, auths))
    assert sorted(status for status, _ in answers) == [200] * 8 + [204] * 12
    handed = [task for _, task in answers if task is not None]
    assert len(set(handed)) == 8
    assert states(test_db, world.project) == {"in_progress": 8}
