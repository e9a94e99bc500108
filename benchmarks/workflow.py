"""Workflow benchmark: 100 labelers ask for their next task at the same moment, round after round.

The customer's question: under concurrency, is a task ever handed to two labelers, or lost, and how fast is
``POST /api/v1/projects/{id}/tasks/next``? The fixture: 100 labeler accounts (SECRET, US citizens, members of
every project) and one project per case, each with its own image of N chips (default 2,050) marked
``SECRET//REL TO USA, GBR``, consensus 1 (one task per chip), no review. Projects, accounts and memberships
are made through GeoLabel's services as the operator; images and chips are written by COPY as the owner (as
``_service_data.py`` does); the tasks are created by the service itself (``ensure_tasks``, untimed), before
the first round. Each case drains its own queue, in rounds: the 100 labelers are released together (a
barrier; one thread and one connection each), every task handed out is then completed (set ``accepted`` by
the owner, untimed) so that each labeler asks for a new one in the next round, and so on until a round hands
out nothing. With 2,050 tasks: 20 full rounds, one with 50 tasks for 100 requests, one with none.

Cases:

(a0) the baseline: the service's own claim statement (``queue._lease_next``: ``UPDATE tasks SET state =
     'in_progress', assignee = .. WHERE id = (SELECT tasks.id ... WHERE state = 'open' AND <the access
     filter> ... ORDER BY priority DESC, replica, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING
     *``, captured from the service code and compiled by SQLAlchemy), straight through psycopg as the service
     role ``geo_label_app`` under row-level security, the labeler's context set as the service sets it; one
     transaction per request;
(a1) the service functions in-process: ``workflow.next_task`` + ``workflow.describe`` in a transaction of
     ``Database.transaction`` (callers preloaded, no HTTP): lease lookup, lazy task creation, expired leases,
     rework, the claim, the audit record, the chip and reviews for the answer;
(a2) ``POST /api/v1/projects/{id}/tasks/next`` over HTTP (keep-alive, one client per labeler) to the real
     server (``geo-label serve``, its default pool and thread pool), bearer tokens: authentication, loading
     the caller, (a1), serialisation.

Reported per case: p50, p95 and max latency and the throughput (tasks handed per second of wall time) over
the full rounds (at least 100 open tasks), the ratios (a2)/(a0) and (a1)/(a0); and the correctness counts over
all rounds: tasks handed twice (within a round or across rounds), requests answered "nothing" while at least
as many tasks as requests were open, errors (failed requests), and at the end, from the database: tasks never
handed out yet no longer open (lost: leased to a labeler who was never told), tasks whose assignee is not the
labeler who got them. A case that runs past its time budget (CASE_BUDGET_S; failing requests make rounds
slow) sets the open tasks aside but for a last partial round, untimed, so that every case also meets a queue
with fewer tasks than requests, then an empty one. This is a report: it exits 0 whatever the figures, non-zero
only when a step itself fails.

The database is GEO_LABEL_DATABASE_URL when set (a superuser or owner URL; a database is created on it and
dropped at the end), else an embedded cluster of this benchmark's own under ``bench-output/pg-workflow``
(100 concurrent connections exceed the default ``max_connections`` of 100 once the others are counted: the
benchmark raises it there, with ALTER SYSTEM and a restart, the first time).

Run: ``.venv/bin/python benchmarks/workflow.py [--chips N] [--labelers K] [--cases a0,a1,a2] [--keep]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# As in tiling.py: run as a script, benchmarks/ comes first on sys.path, where `tiling` (imported by the CLI)
# would be the tiling benchmark. Put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

import argparse  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any, cast  # noqa: E402

import httpx  # noqa: E402
import orjson  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy import bindparam, create_engine, select, text  # noqa: E402
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from access_control import MarkingRegistry, default_registry, parse_marking  # noqa: E402
from benchmarks._common import (  # noqa: E402
    BENCH_AUDIT_KEY,
    OUTPUT,
    StepFailedError,
    bench_token,
    remove_folder,
    run_report,
    scratch_folder,
)
from benchmarks._service_data import insert_image_and_chips, set_context  # noqa: E402
from benchmarks.service import (  # noqa: E402
    BenchDatabase,
    api_server,
    child_env,
    fresh_database,
    libpq,
    server_versions,
)
from geo_label import projects, users, workflow  # noqa: E402
from geo_label.callers import load_caller_by_name  # noqa: E402
from geo_label.db.context import Caller, system_caller  # noqa: E402
from geo_label.db.engine import SERVICE_ROLE, SESSION_SETTINGS, Database, service_url  # noqa: E402
from geo_label.db.models import TASKS  # noqa: E402
from geo_label.db.runtime import system_session  # noqa: E402
from geo_label.workflow import queue as task_queue  # noqa: E402
from geo_label.workflow.common import IN_PROGRESS  # noqa: E402

DEFAULT_CHIPS = 2_050
DEFAULT_LABELERS = 100
MARKING = "SECRET//REL TO USA, GBR"
LABELER_CLEARANCE = "SECRET"
LABELER_CITIZENSHIP = "USA"
#: Connections beyond the labelers' that the benchmark itself and the server may hold at once.
SPARE_CONNECTIONS = 40
#: What the benchmark's own embedded cluster gets when its max_connections is lower than it needs.
EMBEDDED_MAX_CONNECTIONS = 200
REQUEST_TIMEOUT_S = 300.0
WARM_UP_CONCURRENCY = 8
#: A case's rounds stop handing out the whole queue after this long (see ``drain``).
CASE_BUDGET_S = 60.0
MIN_FULL_ROUNDS = 2
#: Rounds after the set-aside, at most (failing requests can keep tasks open round after round).
MAX_TAIL_ROUNDS = 2
LEASE_MINUTES = 120
PSYCOPG_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]
CASES = ("a0", "a1", "a2")


# --- the database ----------------------------------------------------------------------------------------


def max_connections(url: str) -> tuple[int, int, int]:
    """The server's max_connections, superuser_reserved_connections and connections now open."""
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int, "
            "current_setting('superuser_reserved_connections')::int, (SELECT count(*) FROM pg_stat_activity)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _raise_max_connections(url: str, needed: int) -> bool:
    """ALTER SYSTEM SET max_connections on the benchmark's own cluster when it is below ``needed``; True when
    it did (the setting needs a restart)."""
    current, _, _ = max_connections(url)
    if current >= needed:
        return False
    with psycopg.connect(libpq(url), autocommit=True) as admin:
        admin.execute(f"ALTER SYSTEM SET max_connections = {EMBEDDED_MAX_CONNECTIONS}")
    print(f"  database raised max_connections of bench-output/pg-workflow from {current} (restarting it)")
    return True


@contextmanager
def workflow_database(*, keep: bool, needed: int) -> Iterator[BenchDatabase]:
    """GEO_LABEL_DATABASE_URL's server, else the benchmark's own embedded cluster in
    ``bench-output/pg-workflow`` (not ``bench-output/pg``: other benchmarks may be using that one's
    connections), with max_connections raised to EMBEDDED_MAX_CONNECTIONS if below ``needed``."""
    server_url = os.environ.get("GEO_LABEL_DATABASE_URL")
    if server_url:
        with fresh_database(server_url, keep=keep) as database:
            yield database
        return
    from geo_label.db.embedded import SUPERUSER_ROLE, embedded_database

    root = OUTPUT / "pg-workflow"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # as root, the server runs as the postgres user, which must reach its folder
    with embedded_database(root) as cluster:
        _raise_max_connections(cluster.url("postgres", user=SUPERUSER_ROLE), needed)
    # Leaving the block stopped the cluster (unless another process uses it): a raised setting applies now.
    with (
        embedded_database(root) as cluster,
        fresh_database(cluster.url("postgres", user=SUPERUSER_ROLE), keep=keep) as database,
    ):
        yield database


# --- the fixture -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Labeler:
    name: str
    user_id: uuid.UUID


@dataclass(frozen=True)
class Fixture:
    labelers: list[Labeler]
    projects: dict[str, uuid.UUID]  # case -> project
    tasks: dict[str, set[uuid.UUID]]  # case -> its project's tasks


def create_people_and_projects(
    database: Database, registry: MarkingRegistry, labelers: int, cases: Sequence[str]
) -> tuple[list[Labeler], dict[str, uuid.UUID]]:
    """The labelers and one project per case, through the services, as the operator."""
    clearance = users.Clearance.parse(LABELER_CLEARANCE, citizenship=LABELER_CITIZENSHIP, registry=registry)
    people = []
    with system_session(database, registry) as session:
        operator: Caller = session.info["caller"]
        for i in range(labelers):
            name = f"bench-labeler-{i:03d}"
            user = users.create_user(
                session, operator, username=name, password_hash=None, clearance=clearance
            )
            people.append(Labeler(name, user.user.id))
    project_ids = {}
    with system_session(database, registry) as session:
        for case in cases:
            project_ids[case] = projects.create_project(
                session,
                session.info["caller"],
                name=f"bench-workflow-{case}",
                marking=parse_marking(MARKING, registry),
                classes=[projects.LabelClass("building", ("Polygon",))],
                description="workflow benchmark fixture",
                review_required=False,
            )
    with system_session(database, registry) as session:
        for project_id in project_ids.values():
            for person in people:
                projects.add_member(
                    session,
                    session.info["caller"],
                    project_id=project_id,
                    username=person.name,
                    role="labeler",
                )
    return people, project_ids


def create_tasks(database: Database, registry: MarkingRegistry, project_id: uuid.UUID) -> set[uuid.UUID]:
    """The project's tasks, created by the service (``ensure_tasks``) as the operator; their ids."""
    with system_session(database, registry) as session:
        workflow.ensure_tasks(session, session.info["caller"], project_id)
        rows = session.execute(select(TASKS.c.id).where(TASKS.c.project_id == project_id))
        return set(rows.scalars())


def load_fixture(
    bench: BenchDatabase, database: Database, chips: int, labelers: int, cases: Sequence[str]
) -> Fixture:
    registry = default_registry()
    people, project_ids = create_people_and_projects(database, registry, labelers, cases)
    with psycopg.connect(libpq(bench.owner_url), autocommit=True) as admin:
        for project_id in project_ids.values():
            with admin.transaction():
                set_context(admin, system_caller(registry.sci_controls, frozenset({str(project_id)})))
                insert_image_and_chips(
                    admin, project_id, people[0].user_id, chips=chips, marking=MARKING, name="bench-workflow"
                )
        admin.execute("ANALYZE")
    tasks = {case: create_tasks(database, registry, project_ids[case]) for case in cases}
    with psycopg.connect(libpq(bench.owner_url), autocommit=True) as admin:
        admin.execute("VACUUM (ANALYZE) tasks")
    for case, ids in tasks.items():
        if len(ids) != chips:
            raise StepFailedError(f"project {case} has {len(ids)} tasks, not {chips}")
    return Fixture(people, project_ids, tasks)


def complete(bench: BenchDatabase, project_id: uuid.UUID, task_ids: Sequence[uuid.UUID]) -> None:
    """Between rounds, untimed: the tasks handed out are done (``accepted``), so their labelers ask for new
    ones. As the owner, with the operator's context (the owner is subject to FORCE ROW LEVEL SECURITY)."""
    if not task_ids:
        return
    registry = default_registry()
    with psycopg.connect(libpq(bench.owner_url)) as conn, conn.transaction():
        set_context(conn, system_caller(registry.sci_controls, frozenset({str(project_id)})))
        conn.execute(
            "UPDATE tasks SET state = 'accepted', lease_expires_at = NULL, submitted_at = now(), "
            "submissions = submissions + 1, updated_at = now() WHERE id = ANY(%s) AND state = 'in_progress'",
            (list(task_ids),),
        )


def final_assignments(bench: BenchDatabase, project_id: uuid.UUID) -> dict[uuid.UUID, tuple[str, Any]]:
    """Every task of the project: its state and assignee (as the owner, with the operator's context)."""
    registry = default_registry()
    with psycopg.connect(libpq(bench.owner_url)) as conn, conn.transaction():
        set_context(conn, system_caller(registry.sci_controls, frozenset({str(project_id)})))
        rows = conn.execute("SELECT id, state, assignee FROM tasks WHERE project_id = %s", (project_id,))
        return {row[0]: (row[1], row[2]) for row in rows}


# --- the cases -------------------------------------------------------------------------------------------


class _Capture:
    """Stands in for a Session to capture the statement a service function runs (``queue._lease_next``), so
    the baseline runs exactly the service's SQL."""

    def __init__(self) -> None:
        self.statement: Any = None

    def execute(self, statement: Any, *_: Any, **__: Any) -> _Capture:
        self.statement = statement
        return self

    def mappings(self) -> _Capture:
        return self

    def one_or_none(self) -> None:
        return None


def compiled(statement: Any) -> tuple[str, dict[str, Any]]:
    done = statement.compile(dialect=PSYCOPG_DIALECT, compile_kwargs={"render_postcompile": True})
    return str(done), dict(done.params)


#: The lease's values as ``next_task`` sets them (``_lease_values``, the assignee, no time worked yet), as
#: parameters the baseline fills in per request.
LEASE_VALUES = {
    "state": IN_PROGRESS,
    "lease_expires_at": bindparam("expires"),
    "started_at": bindparam("now"),
    "last_seen_at": bindparam("now"),
    "updated_at": bindparam("now"),
    "assignee": bindparam("holder"),
    "work_seconds": 0.0,
}


def claim_sql(caller: Caller, project_id: uuid.UUID) -> tuple[str, dict[str, Any]]:
    """``queue._lease_next``'s statement for ``caller`` (``UPDATE tasks SET <the lease> WHERE id = (SELECT id
    ... FOR UPDATE SKIP LOCKED) RETURNING *``), as psycopg gets it."""
    capture = _Capture()
    task_queue._lease_next(cast(Session, capture), caller, project_id, 1, LEASE_VALUES)  # consensus 1
    return compiled(capture.statement)


@dataclass
class Round:
    open_before: int
    latencies: list[float]
    handed: list[uuid.UUID | None]  # per labeler
    errors: list[str]
    wall: float


@dataclass
class CaseResult:
    key: str
    what: str
    rounds: list[Round] = field(default_factory=list)
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    set_aside: set[uuid.UUID] = field(default_factory=set)
    set_aside_after: int = 0  # rounds run before the set-aside

    def full(self, labelers: int) -> list[Round]:
        return [r for r in self.rounds if r.open_before >= labelers]

    def latencies(self, labelers: int) -> list[float]:
        return [x for r in self.full(labelers) for x in r.latencies]

    def p(self, labelers: int, q: float) -> float:
        values = sorted(self.latencies(labelers))
        return values[min(len(values) - 1, round(q * (len(values) - 1)))] * 1000 if values else math.nan

    def throughput(self, labelers: int) -> float:
        rounds = self.full(labelers)
        wall = sum(r.wall for r in rounds)
        return sum(sum(t is not None for t in r.handed) for r in rounds) / wall if wall else math.nan


def all_at_once(workers: int, ask: Callable[[int], uuid.UUID | None]) -> tuple[list[Any], list[float], float]:
    """``ask(i)`` for every labeler in its own thread, released together by a barrier; answers (or the
    error's text), latencies and the round's wall time (from the release to the last answer)."""
    barrier = threading.Barrier(workers + 1)
    latencies = [0.0] * workers

    def run(index: int) -> Any:
        barrier.wait()
        started = time.perf_counter()
        try:
            return ask(index)
        except Exception as exc:  # counted as an error of the case, reported with the figures
            return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        finally:
            latencies[index] = time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run, i) for i in range(workers)]
        barrier.wait()
        started = time.perf_counter()
        answers = [f.result() for f in futures]
        wall = time.perf_counter() - started
    return answers, latencies, wall


def set_aside(bench: BenchDatabase, project_id: uuid.UUID, count: int, holder: uuid.UUID) -> set[uuid.UUID]:
    """When a case runs out of time: ``count`` open tasks are closed without being handed out (``accepted``
    by ``holder``: a closed task has an assignee), untimed, so that the last rounds (fewer tasks than
    requests, then none) still run."""
    registry = default_registry()
    with psycopg.connect(libpq(bench.owner_url)) as conn, conn.transaction():
        set_context(conn, system_caller(registry.sci_controls, frozenset({str(project_id)})))
        rows = conn.execute(
            "UPDATE tasks SET state = 'accepted', assignee = %s, updated_at = now() WHERE id IN (SELECT id "
            "FROM tasks WHERE project_id = %s AND state = 'open' ORDER BY id LIMIT %s) RETURNING id",
            (holder, project_id, count),
        )
        return {row[0] for row in rows}


def drain(
    result: CaseResult,
    bench: BenchDatabase,
    project_id: uuid.UUID,
    total: int,
    labelers: int,
    ask: Callable[[int], uuid.UUID | None],
    holder: uuid.UUID,
) -> None:
    """Rounds until one hands out nothing (and none failed while tasks were open); the tasks handed in a
    round are completed before the next. Past the case's time budget, after MIN_FULL_ROUNDS full rounds,
    the open tasks but the last partial round's are set aside."""
    open_tasks = total
    max_rounds = 2 * math.ceil(total / labelers) + 5  # rounds with errors hand out fewer tasks
    began = time.perf_counter()
    while True:
        answers, latencies, wall = all_at_once(labelers, ask)
        errors = [a for a in answers if isinstance(a, str)]
        handed = [a if isinstance(a, uuid.UUID) else None for a in answers]
        result.rounds.append(Round(open_tasks, latencies, handed, errors, wall))
        got = [t for t in handed if t is not None]
        complete(bench, project_id, got)
        open_tasks -= len(set(got))
        print(
            f"    round {len(result.rounds):3d}: {len(got):4d} handed, {len(errors):3d} errors, "
            f"wall {wall:6.2f} s, p50 {statistics.median(latencies) * 1000:8.1f} ms; load "
            f"{os.getloadavg()[0]:.2f}",
            flush=True,
        )
        if (not got and (not errors or open_tasks <= 0)) or len(result.rounds) >= max_rounds:
            return
        if result.set_aside and len(result.rounds) - result.set_aside_after >= MAX_TAIL_ROUNDS:
            print(f"    stopped: {MAX_TAIL_ROUNDS} rounds after the budget was spent", flush=True)
            return
        over = time.perf_counter() - began > CASE_BUDGET_S and len(result.full(labelers)) >= MIN_FULL_ROUNDS
        keep = open_tasks % labelers or labelers // 2
        if over and open_tasks > keep and not result.set_aside:
            result.set_aside = set_aside(bench, project_id, open_tasks - keep, holder)
            result.set_aside_after = len(result.rounds)
            open_tasks -= len(result.set_aside)
            print(
                f"    budget of {CASE_BUDGET_S:.0f} s spent: {len(result.set_aside)} open tasks set aside, "
                f"{open_tasks} left for the last rounds",
                flush=True,
            )


def connection_budget(bench: BenchDatabase, labelers: int) -> int:
    """Connections the labelers may have at once: one each when the server allows it."""
    most, reserved, used = max_connections(bench.owner_url)
    return max(1, min(labelers, most - reserved - used - SPARE_CONNECTIONS))


def run_raw(bench: BenchDatabase, fixture: Fixture, callers: list[Caller], budget: int) -> CaseResult:
    result = CaseResult("(a0)", f"claim SQL via psycopg, {SERVICE_ROLE}, RLS")
    project_id = fixture.projects["a0"]
    with raw_claims(bench, callers, project_id, budget) as ask:
        drain(
            result,
            bench,
            project_id,
            len(fixture.tasks["a0"]),
            len(callers),
            ask,
            fixture.labelers[0].user_id,
        )
    result.load = os.getloadavg()
    return result


@contextmanager
def raw_claims(
    bench: BenchDatabase, callers: list[Caller], project_id: uuid.UUID, connections: int
) -> Iterator[Callable[[int], uuid.UUID | None]]:
    """``ask(i)``: caller i claims and leases a task with the service's own statement (``queue._lease_next``)
    through psycopg as the service role, on one of ``connections`` connections with the
    service's session settings; one transaction each."""
    statements = [claim_sql(c, project_id) for c in callers]
    with ExitStack() as stack:
        pool: queue.Queue[psycopg.Connection[Any]] = queue.Queue()
        for _ in range(connections):
            url = libpq(service_url(bench.owner_url))
            pool.put(stack.enter_context(psycopg.connect(url, **SESSION_SETTINGS)))

        def ask(index: int) -> uuid.UUID | None:
            conn = pool.get()
            try:
                with conn.transaction():
                    set_context(conn, callers[index])
                    sql, params = statements[index]
                    now = datetime.now(UTC)
                    lease = {
                        **params,
                        "holder": callers[index].user_id,
                        "now": now,
                        "expires": now + timedelta(minutes=LEASE_MINUTES),
                    }
                    leased = conn.execute(sql, lease, prepare=True).fetchone()
                    return cast(uuid.UUID, leased[0]) if leased else None
            finally:
                pool.put(conn)

        yield ask


def warm_pool(engine: Any, connections: int) -> None:
    """Open the pool's connections before the first timed round (each thread holds one until all do)."""
    barrier = threading.Barrier(connections)

    def hold(_: int) -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            barrier.wait(timeout=60)

    with ThreadPoolExecutor(max_workers=connections) as pool:
        list(pool.map(hold, range(connections)))


def run_service(bench: BenchDatabase, fixture: Fixture, callers: list[Caller], budget: int) -> CaseResult:
    result = CaseResult("(a1)", "workflow.next_task + describe, in-process")
    project_id = fixture.projects["a1"]
    # As Database.connect makes it, but exactly ``budget`` connections (no overflow), opened before timing.
    engine = create_engine(
        service_url(bench.owner_url),
        pool_size=budget,
        max_overflow=0,
        pool_pre_ping=True,
        connect_args={"options": "-c TimeZone=UTC"},
    )
    database = Database(owner_url=bench.owner_url, service_engine=engine, audit_key=BENCH_AUDIT_KEY)
    try:
        warm_pool(engine, budget)

        def ask(index: int) -> uuid.UUID | None:
            who = callers[index]
            with database.transaction(who) as session:
                row = workflow.next_task(session, who, project_id)
                if row is None:
                    return None
                detail = workflow.describe(session, who, row)
                return cast(uuid.UUID, detail.task["id"])

        drain(
            result,
            bench,
            project_id,
            len(fixture.tasks["a1"]),
            len(callers),
            ask,
            fixture.labelers[0].user_id,
        )
    finally:
        database.dispose()
    result.load = os.getloadavg()
    return result


def run_api(bench: BenchDatabase, fixture: Fixture, scratch: Path) -> CaseResult:
    result = CaseResult("(a2)", "POST /api/v1/projects/{id}/tasks/next")
    project_id = fixture.projects["a2"]
    key = secrets.token_hex(32)
    tokens = [bench_token(bench.owner_url, person.user_id, key) for person in fixture.labelers]
    path = f"/api/v1/projects/{project_id}/tasks/next"
    with api_server(child_env(bench, scratch, key), scratch / "serve.log") as base, ExitStack() as stack:
        clients = [
            stack.enter_context(
                httpx.Client(
                    base_url=base, headers={"Authorization": f"Bearer {t}"}, timeout=REQUEST_TIMEOUT_S
                )
            )
            for t in tokens
        ]

        # Untimed: open the keep-alive connections, a few at a time (not a load test).
        with ThreadPoolExecutor(max_workers=WARM_UP_CONCURRENCY) as pool:
            warm = list(pool.map(lambda client: client.get("/api/v1/me").status_code, clients))
        if any(status != 200 for status in warm):
            raise StepFailedError(f"GET /api/v1/me during the warm-up answered {sorted(set(warm))}")

        def ask(index: int) -> uuid.UUID | None:
            response = clients[index].post(path)
            if response.status_code == 204:
                return None
            if response.status_code != 200:
                raise StepFailedError(f"HTTP {response.status_code} {response.text[:160]}")
            return uuid.UUID(orjson.loads(response.content)["id"])

        drain(
            result,
            bench,
            project_id,
            len(fixture.tasks["a2"]),
            len(clients),
            ask,
            fixture.labelers[0].user_id,
        )
    result.load = os.getloadavg()
    return result


# --- the report ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Correctness:
    requests: int
    handed: int
    twice: int
    refused_while_open: int
    errors: int
    lost: int
    left_open: int
    set_aside: int
    wrong_assignee: int
    states: dict[str, int]

    @property
    def ok(self) -> bool:
        return not (self.twice or self.refused_while_open or self.errors or self.lost or self.wrong_assignee)


def check(result: CaseResult, bench: BenchDatabase, fixture: Fixture, case: str) -> Correctness:
    labelers = [person.user_id for person in fixture.labelers]
    got: Counter[uuid.UUID] = Counter()
    holder: dict[uuid.UUID, uuid.UUID] = {}
    refused = 0
    for r in result.rounds:
        answered = [t for t in r.handed if t is not None]
        got.update(answered)
        refused += sum(t is None for t in r.handed) - len(r.errors) if r.open_before >= len(r.handed) else 0
        for index, task in enumerate(r.handed):
            if task is not None:
                holder[task] = labelers[index]
    final = final_assignments(bench, fixture.projects[case])
    unhanded = fixture.tasks[case] - set(got) - result.set_aside
    return Correctness(
        requests=sum(len(r.handed) for r in result.rounds),
        handed=sum(got.values()),
        twice=sum(n - 1 for n in got.values() if n > 1),
        refused_while_open=refused,
        errors=sum(len(r.errors) for r in result.rounds),
        lost=sum(1 for task in unhanded if final.get(task, ("", None))[0] != "open"),
        left_open=sum(1 for task in unhanded if final.get(task, ("", None))[0] == "open"),
        set_aside=len(result.set_aside),
        wrong_assignee=sum(1 for task, who in holder.items() if final.get(task, ("", None))[1] != who),
        states=dict(Counter(state for state, _ in final.values())),
    )


def print_results(results: Sequence[CaseResult], labelers: int) -> None:
    print(
        f"\n  latency and throughput over the full rounds (>= {labelers} open tasks, {labelers} requests"
        " each;"
        " failed requests included)"
    )
    print(
        f"  {'case':<5} {'what':<44} {'rounds':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'tasks/s':>8}"
        "   load avg at the end (1/5/15 min)"
    )
    for r in results:
        lat = r.latencies(labelers)
        worst = max(lat) * 1000 if lat else math.nan
        print(
            f"  {r.key:<5} {r.what:<44} {len(r.full(labelers)):6d} {r.p(labelers, 0.5):8.1f} "
            f"{r.p(labelers, 0.95):8.1f} {worst:8.1f} {r.throughput(labelers):8.1f}"
            f"   {r.load[0]:.2f} / {r.load[1]:.2f} / {r.load[2]:.2f}"
        )
    by_key = {r.key: r for r in results}
    base = by_key.get("(a0)")
    if base is None:
        return
    for key, what in (("(a2)", "API over raw claim SQL"), ("(a1)", "service in-process over raw claim SQL")):
        if key in by_key:
            r = by_key[key]
            p50 = r.p(labelers, 0.5) / base.p(labelers, 0.5)
            p95 = r.p(labelers, 0.95) / base.p(labelers, 0.95)
            rate = r.throughput(labelers) / base.throughput(labelers)
            print(f"  {key}/(a0) p50 {p50:6.2f}   p95 {p95:6.2f}   throughput {rate:5.3f}   {what}")
    if "(a2)" in by_key and "(a1)" in by_key:
        r, s = by_key["(a2)"], by_key["(a1)"]
        print(
            f"  (a2)/(a1) p50 {r.p(labelers, 0.5) / s.p(labelers, 0.5):6.2f}   p95 "
            f"{r.p(labelers, 0.95) / s.p(labelers, 0.95):6.2f}   throughput "
            f"{r.throughput(labelers) / s.throughput(labelers):5.3f}   HTTP, auth and caller loading"
        )


def print_correctness(checks: dict[str, Correctness], results: dict[str, CaseResult]) -> None:
    print("\n  correctness over all rounds (and the database at the end)")
    print(
        f"  {'case':<5} {'requests':>8} {'handed':>7} {'twice':>6} {'refused*':>9} {'errors':>7} {'lost':>5} "
        f"{'open':>5} {'set aside**':>11} {'wrong assignee':>15}  {'states at the end':<26} verdict"
    )
    for key, c in checks.items():
        states = ", ".join(f"{s} {n}" for s, n in sorted(c.states.items()))
        print(
            f"  {key:<5} {c.requests:8d} {c.handed:7d} {c.twice:6d} {c.refused_while_open:9d} {c.errors:7d} "
            f"{c.lost:5d} {c.left_open:5d} {c.set_aside:11d} {c.wrong_assignee:15d}  {states:<26} "
            f"{'ok' if c.ok else 'FAILED'}"
        )
        errors = Counter(e for r in results[key].rounds for e in r.errors)
        for error, count in errors.most_common(5):
            print(f"        {count} x {error}")
    print("  * answered 'no task' while at least as many tasks as requests were open")
    print("  lost: never handed out, yet no longer open (leased to someone who was never told); open: never")
    print("  handed out and still open when the case stopped")
    print(
        f"  ** closed unhanded, untimed, once the case's {CASE_BUDGET_S:.0f} s were spent (not counted lost)"
    )


# --- main ------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--chips", type=int, default=DEFAULT_CHIPS, help="chips (= tasks) per project")
    parser.add_argument("--labelers", type=int, default=DEFAULT_LABELERS, help="concurrent labelers")
    parser.add_argument("--cases", default=",".join(CASES), help="which of a0,a1,a2 to run (a0 always runs)")
    parser.add_argument("--keep", action="store_true", help="keep the database (and bench-output files)")
    args = parser.parse_args(argv)
    if args.chips < 1 or args.labelers < 2:
        parser.error("--chips must be at least 1 and --labelers at least 2")
    cases = {c.strip() for c in args.cases.split(",") if c.strip()}
    if not cases <= set(CASES):
        parser.error(f"--cases: choose among {', '.join(CASES)}")
    args.cases = [c for c in CASES if c in cases | {"a0"}]
    return args


def run(args: argparse.Namespace) -> None:
    with workflow_database(keep=args.keep, needed=args.labelers + SPARE_CONNECTIONS + 10) as bench:
        database = Database.connect(bench.owner_url, audit_key=BENCH_AUDIT_KEY, pool_size=2)
        scratch = scratch_folder("workflow")
        try:
            with psycopg.connect(libpq(bench.owner_url)) as admin:
                print(f"  server   {server_versions(admin)}")
            started = time.perf_counter()
            fixture = load_fixture(bench, database, args.chips, args.labelers, args.cases)
            with database.sessions() as session:
                callers = [load_caller_by_name(session, person.name) for person in fixture.labelers]
            budget = connection_budget(bench, args.labelers)
            print(
                f"  fixture  {args.labelers} labelers, {len(args.cases)} projects of {args.chips:,} tasks "
                f"in {time.perf_counter() - started:.1f} s; connections for (a0)/(a1): {budget}"
                + ("" if budget >= args.labelers else " (fewer than labelers: requests wait for one)"),
                flush=True,
            )
            runners: dict[str, Callable[[], CaseResult]] = {
                "a0": lambda: run_raw(bench, fixture, callers, budget),
                "a1": lambda: run_service(bench, fixture, callers, budget),
                "a2": lambda: run_api(bench, fixture, scratch),
            }
            results: dict[str, CaseResult] = {}
            checks: dict[str, Correctness] = {}
            for case in args.cases:
                load = os.getloadavg()
                print(
                    f"\n  case {case} (load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f})",
                    flush=True,
                )
                result = runners[case]()
                results[result.key] = result
                checks[result.key] = check(result, bench, fixture, case)
            print_results(list(results.values()), args.labelers)
            print_correctness(checks, results)
        finally:
            database.dispose()
            if not args.keep:
                remove_folder(scratch)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rounds = math.ceil(args.chips / args.labelers) + (args.chips % args.labelers == 0)
    setup = (
        f"setup    {args.labelers} labelers ({LABELER_CLEARANCE}, {LABELER_CITIZENSHIP}) released at once, "
        f"{args.chips:,} tasks marked {MARKING} per case, about {rounds} rounds per case"
    )
    title = "GeoLabel workflow benchmark: concurrent next-task requests"
    return run_report(title, lambda: run(args), details=[setup])


if __name__ == "__main__":
    sys.exit(main())
