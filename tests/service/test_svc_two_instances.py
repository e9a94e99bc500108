"""Two GeoLabel hosts over one database (issue 21): two `geo-label serve` instances, each with two worker
processes and a data directory of its own, as two hosts behind a reverse proxy would run. Labelers sign in on
one and work on the other, all at once: no task is handed twice, a session started on one is valid on the
other, failed sign-ins count on both, and the audit chain stays intact."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from geo_label import audit
from tests import pg
from tests.service.test_svc_workflow_support import make_world, owner, scene
from tests.world import PASSWORD, add_member, make_user, unique

GEO_LABEL = Path(sys.executable).parent / "geo-label"
LABELERS = 24  # for 16 tasks
SHARED_SIGNING_KEY = "token-signing-key-shared-by-both-hosts-0123456789"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_instance(stack: ExitStack, test_db: pg.TestDatabase, data_dir: Path) -> str:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env.update(
        GEO_LABEL_DATA_DIR=str(data_dir),
        GEO_LABEL_DATABASE_URL=test_db.owner_url,
        # What every host of one deployment shares besides the database: the keys.
        GEO_LABEL_TOKEN_SIGNING_KEY=SHARED_SIGNING_KEY,
        GEO_LABEL_AUDIT_KEY=pg.AUDIT_KEY.decode(),
        GEO_LABEL_DATABASE_CONNECTIONS="8",
    )
    log = (data_dir.parent / f"{data_dir.name}.log").open("w")
    stack.callback(log.close)
    service = subprocess.Popen(
        [str(GEO_LABEL), "serve", "--port", str(port), "--workers", "2"], env=env, stdout=log, stderr=log
    )

    def stop() -> None:
        service.terminate()
        try:
            service.wait(timeout=60)
        except subprocess.TimeoutExpired:
            service.kill()

    stack.callback(stop)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        assert service.poll() is None, (data_dir.parent / f"{data_dir.name}.log").read_text()
        with suppress(httpx.HTTPError):
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return url
        assert time.monotonic() < deadline, "the instance did not come up"
        time.sleep(0.2)


@pytest.fixture
def instances(test_db: pg.TestDatabase, tmp_path: Path) -> Iterator[tuple[str, str]]:
    with ExitStack() as stack:
        yield start_instance(stack, test_db, tmp_path / "a"), start_instance(stack, test_db, tmp_path / "b")


def sign_in(url: str, username: str) -> dict[str, str]:
    for _ in range(100):
        response = httpx.post(
            f"{url}/api/v1/auth/token", data={"username": username, "password": PASSWORD}, timeout=30
        )
        if response.status_code != 429:
            break
        time.sleep(0.1)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_two_instances_share_tasks_sessions_throttle_and_audit(
    test_db: pg.TestDatabase, instances: tuple[str, str], raster_dir: Path, data_dir: Path
) -> None:
    first, second = instances
    # 512 x 512 pixels in 128-pixel chips: 16 tasks for 24 labelers.
    world = make_world(test_db, scene(raster_dir, 512, 512, seed=43), data_dir, chip_size=128)
    names = [make_user(test_db, unique("host"), "U") for _ in range(LABELERS)]
    for name in names:
        add_member(test_db, world.project, name, "labeler")

    # Signed in on one host, every labeler works on the other, all at the same moment.
    homes = [(first, second) if i % 2 else (second, first) for i in range(LABELERS)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        auths = list(pool.map(lambda pair: sign_in(pair[1][0], pair[0]), zip(names, homes, strict=True)))
    barrier = threading.Barrier(LABELERS)

    def claim(index: int) -> str | None:
        barrier.wait()
        url = f"{homes[index][1]}/api/v1/projects/{world.project}/tasks/next"
        response = httpx.post(url, headers=auths[index], timeout=60)
        assert response.status_code in (200, 204), response.text
        return response.json()["id"] if response.status_code == 200 else None

    with ThreadPoolExecutor(max_workers=LABELERS) as pool:
        answers = list(pool.map(claim, range(LABELERS)))
    handed = [task for task in answers if task is not None]
    assert len(handed) == len(set(handed)) == 16, answers  # every task handed, none twice
    with owner(test_db) as connection:
        held = connection.execute(
            "SELECT count(DISTINCT assignee) FROM tasks WHERE project_id = %s AND state = 'in_progress'",
            (world.project,),
        ).fetchone()
    assert held == (16,)

    # A session ended on one host is over on the other.
    signed_out = httpx.post(f"{first}/api/v1/auth/logout", headers=auths[1], timeout=30)
    assert signed_out.status_code in (200, 204), signed_out.text
    assert httpx.get(f"{second}/api/v1/me", headers=auths[1], timeout=30).status_code == 401

    # Failed sign-ins from one source count on both hosts: past the free ones, the other host says 429.
    refusals = []
    for attempt in range(14):
        host = (first, second)[attempt % 2]
        response = httpx.post(
            f"{host}/api/v1/auth/token", data={"username": "nobody", "password": "wrong"}, timeout=30
        )
        refusals.append(response.status_code)
    assert refusals[:10] == [401] * 10 and 429 in refusals[10:], refusals

    engine = create_engine(test_db.owner_url)
    try:
        with Session(engine) as session:
            assert audit.verify_chain(session, pg.AUDIT_KEY) == []
    finally:
        engine.dispose()
