"""Scale benchmark (issue 21): a million labels and a hundred labelers.

One project of 2,500 chips whose annotations grow from 10,000 to 1,000,000 (COPY, ``_service_data.py``) in
eight markings of which the reader (SECRET, US citizen) may read about half; two workflow projects of 2,000
and 20,000 chips (one open task each, consensus 1) with up to 100 labelers (``workflow.py``'s fixture). The
API is the real server (``geo-label serve``, its default processes) over HTTP. Measured, in one run:

- ``ogc_page_ms``: an OGC API items page (limit 100) at 10k and at 1M annotations, median of ``--samples``
  requests: ``first`` the first page, ``deep`` a page reached by following ``next`` links (1,000 a page) to
  past 40% of the readable rows. Goal: under 20 ms and within 2x the 10k figure, first and deep. Also
  ``collection``: the collection document (its extent).
- ``bbox10_api_over_raw``: ``GET /api/v1/annotations?bbox=`` over 10% of the region (a page of 100) against
  the SQL the API runs for it (the page and its capped count) through psycopg as the service role under
  row-level security. Goal <= 1.3.
- ``claim_ms``: one labeler's ``workflow.next_task`` in-process, at 2,000 and 20,000 open tasks, median.
  Goal: 20k within 1.5x of 2k.
- ``next_task``: 10, 50 and 100 labelers asking ``POST /tasks/next`` at once, round after round (the tasks
  handed are completed between rounds, untimed): tasks/s, p50 and p99 latency, and the raw claim SQL's
  throughput with as many connections. Goal at 100: >= 100 tasks/s, p99 < 500 ms, >= 0.7x raw, none twice.
- ``export``: ``GET /api/v1/projects/{id}/export`` at 1M: time to the first byte, total against ``ogr2ogr``
  of three columns as the superuser, and the server's peak resident memory. Goal: first byte < 1 s, total
  <= 0.8x ogr2ogr, memory flat. ``gpkg`` (issue 22): ``?format=gpkg`` against ``ogr2ogr -f GPKG`` of the
  same three columns (reported, no goal set).

A report, not a test: it exits 0 whatever the figures, non-zero only when a step itself fails. ``--json``
prints one JSON object (the text mode prints the same figures a line each).

Run: ``.venv/bin/python benchmarks/scale.py [--annotations 1000000] [--tasks 20000] [--json] [--keep]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

import argparse  # noqa: E402
import math  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import orjson  # noqa: E402
import psycopg  # noqa: E402

from access_control import default_registry  # noqa: E402
from benchmarks._common import (  # noqa: E402
    BENCH_AUDIT_KEY,
    StepFailedError,
    bench_token,
    remove_folder,
    run_report,
    scratch_folder,
)
from benchmarks._service_data import (  # noqa: E402
    HALF_MIX,
    REGION,
    Fixture,
    grow_annotations,
    insert_image_and_chips,
    load_fixture,
    set_context,
)
from benchmarks.service import (  # noqa: E402
    BenchDatabase,
    child_env,
    libpq,
    measured_run,
    peak_rss_mb,
    pg_conninfo,
    served,
    server_versions,
)
from benchmarks.workflow import (  # noqa: E402
    MARKING,
    Labeler,
    all_at_once,
    complete,
    create_people_and_projects,
    create_tasks,
    raw_claims,
    workflow_database,
)
from geo_label import workflow  # noqa: E402
from geo_label.annotations import COUNT_CAP, AnnotationFilter, count_statement, page_statement  # noqa: E402
from geo_label.callers import load_caller  # noqa: E402
from geo_label.chips import BBox  # noqa: E402
from geo_label.db.context import Caller, system_caller  # noqa: E402
from geo_label.db.engine import SESSION_SETTINGS, Database, service_url  # noqa: E402

PAGE = 100
WALK_PAGE = 1000
DEEP_SHARE = 0.4
REQUEST_TIMEOUT_S = 600.0
SPARE_CONNECTIONS = 60
BBOX_SHARE = 0.10


# --- the server --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    base: str
    process: subprocess.Popen[bytes]

    def workers(self) -> list[int]:
        """The server's processes: uvicorn's supervisor and the workers it spawned."""
        pids = [self.process.pid]
        for pid in list(pids):
            children = Path(f"/proc/{pid}/task/{pid}/children")
            if children.exists():
                pids += [int(child) for child in children.read_text().split()]
        return pids

    def peak_mb(self) -> float:
        return max((peak_rss_mb(pid) or 0.0) for pid in self.workers())


@contextmanager
def serve(env: dict[str, str], log: Path) -> Iterator[Server]:
    with served(env, log) as (base, process):
        yield Server(base, process)


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


def quantile_ms(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000 if ordered else math.nan


def timed_get(client: httpx.Client, url: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise StepFailedError(f"GET {url} answered {response.status_code}: {response.text[:200]}")
    return elapsed, response


# --- OGC pages ---------------------------------------------------------------------------------------------


def next_link(body: dict[str, Any]) -> str | None:
    return next((link["href"] for link in body["links"] if link["rel"] == "next"), None)


def ogc_pages(client: httpx.Client, project: uuid.UUID, readable: int, samples: int) -> dict[str, float]:
    """The first page and a deep one (``next`` links followed past DEEP_SHARE of the readable rows), each
    the median of ``samples`` requests after two untimed ones."""
    first_url = f"/ogc/collections/{project}/items?limit={PAGE}"
    walked, url = 0, f"/ogc/collections/{project}/items?limit={WALK_PAGE}"
    while walked < DEEP_SHARE * readable:
        _, response = timed_get(client, url)
        body = orjson.loads(response.content)
        walked += body["numberReturned"]
        following = next_link(body)
        if following is None:
            raise StepFailedError(f"the walk ended after {walked} of {readable} readable rows")
        url = following
    deep_url = url.replace(f"limit={WALK_PAGE}", f"limit={PAGE}")
    out = {}
    collection_url = f"/ogc/collections/{project}"
    for name, page_url in (("first", first_url), ("deep", deep_url), ("collection", collection_url)):
        for _ in range(2):
            timed_get(client, page_url)
        times = [timed_get(client, page_url)[0] for _ in range(samples)]
        out[name] = round(median_ms(times), 2)
    return out


# --- the bbox page ---------------------------------------------------------------------------------------


def tenth_of_region() -> BBox:
    west, south, east, north = REGION
    side = math.sqrt(BBOX_SHARE)
    w = west + (east - west) * (1 - side) / 2
    s = south + (north - south) * (1 - side) / 2
    return BBox(w, s, w + (east - west) * side, s + (north - south) * side)


def bbox_ratio(
    client: httpx.Client, bench: BenchDatabase, reader: Caller, fixture: Fixture, samples: int
) -> tuple[float, float, float]:
    """(API ms, raw ms, ratio) for a page of PAGE over 10% of the region, medians of ``samples``. Raw is the
    SQL the API runs for it, through psycopg as the service role under RLS: the page, and (a first page that
    is full) its count up to the cap."""
    window = tenth_of_region()
    url = (
        f"/api/v1/annotations?project={fixture.project_id}&limit={PAGE}"
        f"&bbox={window.west},{window.south},{window.east},{window.north}"
    )
    filters = AnnotationFilter(project_id=fixture.project_id, bbox=window)
    statements = []
    for statement in (
        page_statement(reader, filters, limit=PAGE + 1),
        count_statement(reader, filters, cap=COUNT_CAP),
    ):
        done = statement.compile(dialect=PSYCOPG, compile_kwargs={"render_postcompile": True})
        statements.append((str(done), dict(done.params)))
    # The service's own session settings: the same SQL, run as the service runs it.
    with psycopg.connect(libpq(service_url(bench.owner_url)), **SESSION_SETTINGS) as conn:

        def raw() -> float:
            started = time.perf_counter()
            with conn.transaction():
                set_context(conn, reader)
                for sql, params in statements:
                    if not conn.execute(sql, params, prepare=True).fetchall():
                        raise StepFailedError("the raw bbox page is empty")
            return time.perf_counter() - started

        for _ in range(3):
            raw()
            timed_get(client, url)
        raw_times, api_times = [], []
        for _ in range(samples):  # interleaved: a burst of load elsewhere hits both
            raw_times.append(raw())
            api_times.append(timed_get(client, url)[0])
    api, base = median_ms(api_times), median_ms(raw_times)
    return round(api, 2), round(base, 2), round(api / base, 2)


# --- tasks -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Queues:
    labelers: list[Labeler]
    callers: list[Caller]
    projects: dict[str, uuid.UUID]  # "2k" / "20k" -> project
    sizes: dict[str, int]


def load_queues(bench: BenchDatabase, database: Database, sizes: dict[str, int], labelers: int) -> Queues:
    registry = default_registry()
    people, projects = create_people_and_projects(database, registry, labelers, list(sizes))
    with psycopg.connect(libpq(bench.owner_url), autocommit=True) as admin:
        for case, project_id in projects.items():
            with admin.transaction():
                set_context(admin, system_caller(registry.sci_controls, frozenset({str(project_id)})))
                insert_image_and_chips(
                    admin, project_id, people[0].user_id, chips=sizes[case], marking=MARKING, name=f"q-{case}"
                )
        admin.execute("ANALYZE")
    for case, project_id in projects.items():
        tasks = create_tasks(database, registry, project_id)
        if len(tasks) != sizes[case]:
            raise StepFailedError(f"project {case} has {len(tasks)} tasks, not {sizes[case]}")
    with psycopg.connect(libpq(bench.owner_url), autocommit=True) as admin:
        admin.execute("VACUUM (ANALYZE) tasks")
    with database.sessions() as session:
        callers = [load_caller(session, person.user_id) for person in people]
    return Queues(people, callers, projects, sizes)


def claim_ms(bench: BenchDatabase, database: Database, queues: Queues, case: str, samples: int) -> float:
    """One labeler at a time claims with ``workflow.next_task`` (in-process); the task is completed
    (untimed) before the next claim. Median after three untimed claims."""
    project = queues.projects[case]
    times = []
    for index in range(samples + 3):
        who = queues.callers[index % len(queues.callers)]
        started = time.perf_counter()
        with database.transaction(who) as session:
            row = workflow.next_task(session, who, project)
        elapsed = time.perf_counter() - started
        if row is None:
            raise StepFailedError(f"no task for {who.username} in the {case} queue")
        complete(bench, project, [row["id"]])
        if index >= 3:
            times.append(elapsed)
    return round(median_ms(times), 2)


@dataclass
class Rounds:
    latencies: list[float]
    walls: list[float]
    handed: list[uuid.UUID]
    errors: list[str]

    def tasks_per_s(self) -> float:
        return len(self.handed) / sum(self.walls) if self.walls else math.nan


def run_rounds(
    bench: BenchDatabase,
    project: uuid.UUID,
    labelers: int,
    rounds: int,
    ask: Callable[[int], uuid.UUID | None],
) -> Rounds:
    result = Rounds([], [], [], [])
    for _ in range(rounds):
        answers, latencies, wall = all_at_once(labelers, ask)
        got = [a for a in answers if isinstance(a, uuid.UUID)]
        result.errors += [a for a in answers if isinstance(a, str)]
        result.latencies += latencies
        result.walls.append(wall)
        result.handed += got
        complete(bench, project, got)
    return result


def raw_rounds(bench: BenchDatabase, queues: Queues, labelers: int, rounds: int) -> Rounds:
    """The service's claim and lease SQL through psycopg, a connection per labeler (workflow.py's (a0))."""
    project = queues.projects["20k"]
    with raw_claims(bench, queues.callers[:labelers], project, labelers) as ask:
        return run_rounds(bench, project, labelers, rounds, ask)


def api_rounds(
    server: Server, bench: BenchDatabase, queues: Queues, key: str, labelers: int, rounds: int
) -> Rounds:
    project = queues.projects["20k"]
    path = f"/api/v1/projects/{project}/tasks/next"
    with ExitStack() as stack:
        clients = [
            stack.enter_context(
                httpx.Client(
                    base_url=server.base,
                    headers={"Authorization": f"Bearer {bench_token(bench.owner_url, person.user_id, key)}"},
                    timeout=REQUEST_TIMEOUT_S,
                )
            )
            for person in queues.labelers[:labelers]
        ]
        for client in clients:  # untimed: the keep-alive connections
            client.get("/api/v1/me")

        def ask(index: int) -> uuid.UUID | None:
            response = clients[index].post(path)
            if response.status_code == 204:
                return None
            if response.status_code != 200:
                raise StepFailedError(f"HTTP {response.status_code} {response.text[:160]}")
            return uuid.UUID(orjson.loads(response.content)["id"])

        return run_rounds(bench, project, labelers, rounds, ask)


# --- export -----------------------------------------------------------------------------------------------


def api_export(
    server: Server, token: str, project: uuid.UUID, scratch: Path, fmt: str = "geojson"
) -> tuple[float, float, int]:
    """(seconds to the first byte, seconds in all, bytes) of the API export, written to a file."""
    out = scratch / f"api-export.{fmt}"
    size = 0
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/projects/{project}/export?format={fmt}"
    with httpx.Client(base_url=server.base, headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
        started = time.perf_counter()
        first = math.nan
        with client.stream("GET", url) as response, out.open("wb") as sink:
            if response.status_code != 200:
                raise StepFailedError(f"the export answered {response.status_code}")
            for chunk in response.iter_raw():
                if math.isnan(first):
                    first = time.perf_counter() - started
                size += len(chunk)
                sink.write(chunk)
        total = time.perf_counter() - started
    out.unlink()
    return first, total, size


def ogr2ogr_seconds(bench: BenchDatabase, scratch: Path, driver: str = "GeoJSON") -> float | None:
    executable = shutil.which("ogr2ogr")
    if executable is None:
        return None
    out = scratch / ("ogr2ogr.gpkg" if driver == "GPKG" else "ogr2ogr.geojson")
    conninfo, env = pg_conninfo(bench.owner_url)
    sql = "SELECT id, label_class, geometry FROM annotations"
    command = [executable, "-f", driver, str(out), f"PG:{conninfo}", "-sql", sql]
    run = measured_run(command, env, scratch / "ogr2ogr-logs")
    out.unlink(missing_ok=True)
    return run.seconds


# --- the run ------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--annotations", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000, help="the first size measured")
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--small-tasks", type=int, default=2_000)
    parser.add_argument("--labelers", default="10,50,100")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=25)
    parser.add_argument("--skip", default="", help="parts to leave out: ogc,bbox,claim,next,export")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args(argv)


PSYCOPG: Any = None


@dataclass(frozen=True)
class Run:
    args: argparse.Namespace
    bench: BenchDatabase
    database: Database
    key: str
    scratch: Path
    report: dict[str, Any]
    skip: set[str]

    def log(self, line: str) -> None:
        if not self.args.json:
            print(line, flush=True)


def annotation_parts(ctx: Run, server: Server) -> None:
    """OGC pages at the small size, then grown to the full size: OGC pages, the bbox page, the export."""
    args, registry = ctx.args, default_registry()
    with psycopg.connect(libpq(ctx.bench.owner_url), autocommit=True) as admin:
        ctx.report["server"] = server_versions(admin)
        started = time.perf_counter()
        fixture, _ = load_fixture(ctx.database, admin, registry, args.small, mix=HALF_MIX)
        ctx.log(f"loaded {args.small:,} annotations in {time.perf_counter() - started:.1f} s")
    with ctx.database.sessions() as session:
        reader = load_caller(session, fixture.reader_id)
    token = bench_token(ctx.bench.owner_url, fixture.reader_id, ctx.key)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base, headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
        pages: dict[str, Any] = {}
        if "ogc" not in ctx.skip:
            pages["10k"] = ogc_pages(client, fixture.project_id, round(args.small / 2), args.samples)
            ctx.log(f"OGC page at {args.small:,}: {pages['10k']}")
        with psycopg.connect(libpq(ctx.bench.owner_url), autocommit=True) as admin:
            started = time.perf_counter()
            fixture = replace(fixture, annotations=args.annotations)
            grow_annotations(admin, registry, fixture, first=args.small)
            ctx.log(f"grew to {args.annotations:,} in {time.perf_counter() - started:.1f} s")
        if "ogc" not in ctx.skip:
            readable = round(args.annotations * fixture.readable_share)
            pages["1m"] = ogc_pages(client, fixture.project_id, readable, args.samples)
            ctx.report["ogc_page_ms"] = pages
            ctx.log(f"OGC page at {args.annotations:,}: {pages['1m']}")
        if "bbox" not in ctx.skip:
            api, raw, ratio = bbox_ratio(client, ctx.bench, reader, fixture, args.samples)
            ctx.report["bbox10_api_over_raw"] = ratio
            ctx.report["bbox10_ms"] = {"api": api, "raw": raw}
            ctx.log(f"10% bbox page: API {api} ms, raw {raw} ms: {ratio}x")
    if "export" not in ctx.skip:
        before = server.peak_mb()
        first, total, size = api_export(server, token, fixture.project_id, ctx.scratch)
        ogr = ogr2ogr_seconds(ctx.bench, ctx.scratch)
        ctx.report["export"] = {
            "over_ogr2ogr": round(total / ogr, 2) if ogr else None,
            "first_byte_s": round(first, 3),
            "total_s": round(total, 2),
            "ogr2ogr_s": round(ogr, 2) if ogr else None,
            "mb": round(size / 1e6, 1),
            "peak_rss_mb": round(server.peak_mb(), 1),
            "peak_rss_before_mb": round(before, 1),
        }
        ctx.log(f"export: {ctx.report['export']}")
        _, gpkg_total, gpkg_size = api_export(server, token, fixture.project_id, ctx.scratch, "gpkg")
        gpkg_ogr = ogr2ogr_seconds(ctx.bench, ctx.scratch, "GPKG")
        ctx.report["export"]["gpkg"] = {
            "over_ogr2ogr": round(gpkg_total / gpkg_ogr, 2) if gpkg_ogr else None,
            "total_s": round(gpkg_total, 2),
            "ogr2ogr_s": round(gpkg_ogr, 2) if gpkg_ogr else None,
            "mb": round(gpkg_size / 1e6, 1),
        }
        ctx.log(f"export as GeoPackage: {ctx.report['export']['gpkg']}")


def task_parts(ctx: Run, server: Server) -> None:
    crowd = [int(n) for n in ctx.args.labelers.split(",")]
    sizes = {"2k": ctx.args.small_tasks, "20k": ctx.args.tasks}
    queues = load_queues(ctx.bench, ctx.database, sizes, max(crowd))
    if "claim" not in ctx.skip:
        ctx.report["claim_ms"] = {
            case: claim_ms(ctx.bench, ctx.database, queues, case, ctx.args.samples) for case in sizes
        }
        ctx.log(f"claim: {ctx.report['claim_ms']}")
    if "next" not in ctx.skip:
        ctx.report["next_task"] = next_task_report(server, ctx.bench, queues, ctx.key, crowd, ctx.args.rounds)
        ctx.log(f"next task: {ctx.report['next_task']}")


def run(args: argparse.Namespace, report: dict[str, Any]) -> None:
    global PSYCOPG
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    PSYCOPG = PGDialect_psycopg()  # type: ignore[no-untyped-call]
    skip = set(filter(None, args.skip.split(",")))
    crowd = [int(n) for n in args.labelers.split(",")]
    scratch = scratch_folder("scale")
    try:
        with workflow_database(keep=args.keep, needed=max(crowd) + SPARE_CONNECTIONS) as bench:
            database = Database.connect(bench.owner_url, audit_key=BENCH_AUDIT_KEY, pool_size=10)
            key = secrets.token_hex(32)
            ctx = Run(args, bench, database, key, scratch, report, skip)
            try:
                with serve(child_env(bench, scratch, key), scratch / "serve.log") as server:
                    annotation_parts(ctx, server)
                    if not {"claim", "next"} <= skip:
                        task_parts(ctx, server)
            finally:
                database.dispose()
    finally:
        remove_folder(scratch)


def next_task_report(
    server: Server, bench: BenchDatabase, queues: Queues, key: str, crowd: list[int], rounds: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    everything: Counter[uuid.UUID] = Counter()
    for labelers in crowd:
        api = api_rounds(server, bench, queues, key, labelers, rounds)
        raw = raw_rounds(bench, queues, labelers, rounds)
        everything.update(api.handed)
        everything.update(raw.handed)
        out[str(labelers)] = {
            "tasks_per_s": round(api.tasks_per_s(), 1),
            "p50_ms": round(quantile_ms(api.latencies, 0.5), 1),
            "p99_ms": round(quantile_ms(api.latencies, 0.99), 1),
            "raw_tasks_per_s": round(raw.tasks_per_s(), 1),
            "errors": len(api.errors) + len(raw.errors),
        }
    twice = sum(n - 1 for n in everything.values() if n > 1)
    for figures in out.values():
        figures["handed_twice"] = twice
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report: dict[str, Any] = {}
    if args.json:
        try:
            run(args, report)
        except StepFailedError as exc:
            print(f"scale benchmark failed: {exc}", file=sys.stderr)
            return 1
        print(orjson.dumps(report).decode())
        return 0
    return run_report("GeoLabel scale benchmark (issue 21)", lambda: run(args, report))


if __name__ == "__main__":
    sys.exit(main())
