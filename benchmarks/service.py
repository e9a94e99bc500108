"""Service benchmark: bbox queries through the API and whole-project exports, against raw baselines.

One project with one image, 2,500 chips and (by default) 1,000,000 annotations, loaded with COPY into a fresh
database (see ``_service_data.py``), read by a SECRET US user who may read 95% of them. Measured:

(a) bbox queries returning about 1,000 features each, over 30 windows chosen to hold 900-1,000 features the
    reader may read, p50 and p95 over several passes:
    (a0) the floor: the fewest columns a bbox answer needs (id, class, ``ST_AsGeoJSON``), no order, as the
         superuser (no row-level security): what the GiST index alone costs;
    (a1) the same SQL as (a2)'s: the service's own page statement (every column of an annotation, its
         order and the clearance filter), compiled by SQLAlchemy and run straight through psycopg as the
         service role ``geo_label_app``, under RLS with the reader's context set as the service sets it;
    (a2) ``GET /api/v1/annotations?project=..&bbox=..&limit=1000`` over HTTP (keep-alive) to the real server
         (``geo-label serve``) with the reader's bearer token: authentication, caller loading, the page and
         its count, the read audit, serialisation.
    The goal is p50(a2) / p50(a1) <= 2.5. MARKINGS.md section 6 warns that spatial operators are not
    LEAKPROOF, so under a plain RLS policy PostgreSQL may not use the GiST index for them: the service's SQL
    (page and count) is run under EXPLAIN (ANALYZE, BUFFERS) to see whether ``annotations_geometry`` is
    used. Then, as a superuser, two labelled EXPERIMENTS made in the benchmark database only and reverted
    afterwards, each measured like the schema as migrated, cumulatively: ``geometry_overlaps`` (the ``&&``
    operator's function) marked LEAKPROOF, when the index is not used; and the policy's context function made
    inlinable (``geo_label_missing_context`` declared STABLE), when it is not yet.
(b) exporting the whole project: ``geo-label export --as READER`` (the readable 95%, every property and
    marking) against ``ogr2ogr -f GeoJSON`` of ``id, label_class, geometry`` from the same table as the
    superuser (no RLS), each as a whole process: wall time, features/s, MB/s and peak RSS. Goals: export time
    / ogr2ogr time <= 1.0, export peak memory < 300 MB.

Machines differ and are noisy, so the figures that matter are the ratios to baselines measured in the same
run. This is a report, not a test: it exits 0 whether or not the goals are met, non-zero only when a step
itself fails.

The database is GEO_LABEL_DATABASE_URL when set (a superuser or owner URL of the server; a database is
created on it and dropped at the end), else GeoLabel's embedded cluster under ``bench-output/pg``.

Run: ``.venv/bin/python benchmarks/service.py [--annotations N] [--passes K] [--keep]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# As in tiling.py: run as a script, benchmarks/ comes first on sys.path, where `tiling` (imported by the CLI)
# would be the tiling benchmark. Put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import orjson  # noqa: E402
import psycopg  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402
from sqlalchemy import create_engine, func, make_url, select  # noqa: E402
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from access_control import default_registry  # noqa: E402
from benchmarks._common import (  # noqa: E402
    BENCH_AUDIT_KEY,
    OUTPUT,
    REPO,
    StepFailedError,
    bench_token,
    remove_folder,
    run_report,
    scratch_folder,
)
from benchmarks._service_data import (  # noqa: E402
    PROJECT_NAME,
    READER,
    READER_CITIZENSHIP,
    READER_CLEARANCE,
    REGION,
    Fixture,
    load_fixture,
    set_context,
)
from geo_label.annotations import MAX_PAGE, AnnotationFilter, count_statement, page_statement  # noqa: E402
from geo_label.callers import load_caller_by_name  # noqa: E402
from geo_label.chips import BBox, bbox_filter  # noqa: E402
from geo_label.db.access import readable  # noqa: E402
from geo_label.db.context import Caller, set_caller_context  # noqa: E402
from geo_label.db.engine import SERVICE_ROLE, Database, service_url, upgrade_schema  # noqa: E402
from geo_label.db.models import ANNOTATIONS  # noqa: E402

DEFAULT_ANNOTATIONS = 1_000_000
MIN_ANNOTATIONS = 20_000
WINDOWS = 30
#: Windows are sized for this many readable features, and kept when they hold VISIBLE_RANGE (one API page).
TARGET_VISIBLE = 950
VISIBLE_RANGE = (900, MAX_PAGE)
#: Untimed requests per case before measuring (connections, prepared statements, caches).
WARM_UP = 5
#: A case whose request takes longer than this is warmed up once only.
SLOW_REQUEST_S = 1.0
#: Timed requests stop once a phase has taken this long and every case has MIN_REQUESTS (without the GiST
#: index a request can take seconds, and 90 of them would take most of an hour).
PHASE_BUDGET_S = 150.0
MIN_REQUESTS = 5
GOAL_API_OVER_RAW = 2.5
GOAL_EXPORT_OVER_OGR2OGR = 1.0
GOAL_EXPORT_PEAK_MB = 300.0
SERVER_START_TIMEOUT_S = 60.0
#: How often a measured process's peak resident set is read while it runs.
RSS_POLL_S = 0.02
#: The function behind PostGIS's ``&&`` on geometries: the LEAKPROOF experiment's subject.
OVERLAPS_FUNCTION = "geometry_overlaps(geometry, geometry)"
MISSING_CONTEXT_FUNCTION = "geo_label_missing_context(text)"
GIST_INDEX = "annotations_geometry"
PLAN_LINE_CHARS = 150

PSYCOPG_DIALECT = PGDialect_psycopg()
#: (a0), the floor: the fewest columns a bbox answer needs, no order, no row-level security.
RAW_BBOX_SQL = (
    "SELECT id, label_class, ST_AsGeoJSON(geometry) FROM annotations "
    "WHERE geometry && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326) "
    "AND ST_Intersects(geometry, ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326))"
)


# --- the database ----------------------------------------------------------------------------------------


def libpq(url: str) -> str:
    """A SQLAlchemy URL as a libpq URI (for psycopg)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class BenchDatabase:
    """The fresh benchmark database: ``owner_url`` connects as the server URL's role (superuser or owner)."""

    owner_url: str
    name: str
    superuser: bool


def _create_service_role(admin: psycopg.Connection[Any]) -> None:
    admin.execute(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{SERVICE_ROLE}') THEN "
        f"CREATE ROLE {SERVICE_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT; "
        "END IF; END $$"
    )


@contextmanager
def fresh_database(server_url: str, *, keep: bool) -> Iterator[BenchDatabase]:
    """A new database on ``server_url``'s server, migrated; dropped at the end unless ``keep``."""
    name = f"geo_label_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq(server_url), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        _create_service_role(admin)
        row = admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    owner_url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_schema(owner_url, audit_key=BENCH_AUDIT_KEY)
        yield BenchDatabase(owner_url, name, superuser=bool(row and row[0]))
    finally:
        if keep:
            print(f"\nkept database {name}: {make_url(owner_url)}")
        else:
            with psycopg.connect(libpq(server_url), autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def bench_database(*, keep: bool) -> Iterator[BenchDatabase]:
    """GEO_LABEL_DATABASE_URL's server, else the embedded cluster in ``bench-output/pg`` (left initialised
    for the next run; stopped at the end unless another GeoLabel process uses it)."""
    server_url = os.environ.get("GEO_LABEL_DATABASE_URL")
    if server_url:
        with fresh_database(server_url, keep=keep) as database:
            yield database
        return
    from geo_label.db.embedded import SUPERUSER_ROLE, embedded_database

    root = OUTPUT / "pg"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # as root, the server runs as the postgres user, which must reach its folder
    with (
        embedded_database(root) as cluster,
        fresh_database(cluster.url("postgres", user=SUPERUSER_ROLE), keep=keep) as database,
    ):
        yield database


def server_versions(admin: psycopg.Connection[Any]) -> str:
    row = admin.execute(
        "SELECT current_setting('server_version'), postgis_lib_version(), current_setting('shared_buffers'), "
        "current_setting('work_mem')"
    ).fetchone()
    assert row is not None
    return f"PostgreSQL {row[0]}, PostGIS {row[1]}, shared_buffers {row[2]}, work_mem {row[3]}"


def table_size_mb(admin: psycopg.Connection[Any], table: str) -> tuple[float, float]:
    """The table's heap and its indexes, in MB."""
    row = admin.execute(
        "SELECT pg_table_size(%s::regclass), pg_indexes_size(%s::regclass)", (table, table)
    ).fetchone()
    assert row is not None
    return row[0] / 1e6, row[1] / 1e6


# --- processes -------------------------------------------------------------------------------------------


def geo_label_command() -> list[str]:
    script = Path(sys.executable).parent / "geo-label"
    return [str(script)] if script.exists() else [sys.executable, "-m", "geo_label"]


def child_env(bench: BenchDatabase, data_dir: Path, signing_key: str) -> dict[str, str]:
    """The environment of ``geo-label serve`` and ``geo-label export``: the benchmark database and key."""
    env = {key: value for key, value in os.environ.items() if key != "GEO_LABEL_MARKING_REGISTRY"}
    env.update(
        GEO_LABEL_DATABASE_URL=bench.owner_url,
        GEO_LABEL_DATA_DIR=str(data_dir),
        GEO_LABEL_TOKEN_SIGNING_KEY=signing_key,
        GEO_LABEL_AUDIT_KEY=BENCH_AUDIT_KEY.decode(),
    )
    return env


@dataclass(frozen=True)
class ProcessRun:
    seconds: float
    peak_mb: float
    stdout: str


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set since its exec (VmHWM), in MiB; None once it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def measured_run(command: Sequence[str], env: dict[str, str], logs: Path) -> ProcessRun:
    """Run ``command`` as a whole process: wall time, and peak RSS read from /proc every RSS_POLL_S while it
    runs (not ``wait4``'s ru_maxrss: on Linux a child inherits its parent's high-water mark across fork and
    exec, so that would report this benchmark's own size)."""
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "stdout").open("w+") as out, (logs / "stderr").open("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=REPO)
        peak = 0.0
        while process.poll() is None:
            peak = max(peak, peak_rss_mb(process.pid) or 0.0)
            time.sleep(RSS_POLL_S)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        tail = "\n".join((stderr or stdout).strip().splitlines()[-15:])
        raise StepFailedError(f"{command[0]} exited with status {process.returncode}:\n{tail}")
    return ProcessRun(seconds, peak, stdout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def api_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """``geo-label serve`` on a free local port; yields its base URL, stops it (SIGINT) at the end."""
    with served(env, log) as (base, _):
        yield base


@contextmanager
def served(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """:func:`api_server`, yielding its process too."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        process = subprocess.Popen(
            [*geo_label_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
        try:
            _wait_until_up(base, process, log)
            yield base, process
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StepFailedError(f"geo-label serve exited with status {process.returncode}: see {log}")
        try:
            httpx.get(f"{base}/api/v1/me", timeout=2.0)  # 401 without a token: the server is up
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise StepFailedError(f"geo-label serve did not answer within {SERVER_START_TIMEOUT_S:.0f} s: see {log}")


# --- (a) bbox queries ------------------------------------------------------------------------------------


def load_reader(database: Database) -> Caller:
    with database.sessions() as session:
        return load_caller_by_name(session, READER)


def count_readable(session: Session, reader: Caller, fixture: Fixture, window: BBox) -> int:
    """Features ``reader`` may read in ``window``, by the service's own filter."""
    query = select(func.count()).where(
        ANNOTATIONS.c.project_id == fixture.project_id,
        readable(ANNOTATIONS, reader),
        bbox_filter(ANNOTATIONS.c.geometry, window),
    )
    return int(session.execute(query).scalar_one())


def pick_windows(bench: BenchDatabase, reader: Caller, fixture: Fixture, count: int) -> list[BBox]:
    """``count`` square windows (in degrees) holding VISIBLE_RANGE features the reader may read, at seeded
    random places. Counted as the owner (superuser: no RLS, so the GiST index makes it quick)."""
    west, south, east, north = REGION
    density = fixture.annotations * fixture.readable_share / ((east - west) * (north - south))
    side = float(np.sqrt(TARGET_VISIBLE / density))
    rng = np.random.default_rng(7)
    engine = create_engine(bench.owner_url)
    windows: list[BBox] = []
    try:
        with Session(engine) as session, session.begin():
            set_caller_context(session, reader)  # needed when the owner is not a superuser (FORCE RLS)
            for _ in range(count * 20):
                x = rng.uniform(west, east - side)
                y = rng.uniform(south, north - side)
                window = BBox(round(x, 6), round(y, 6), round(x + side, 6), round(y + side, 6))
                if VISIBLE_RANGE[0] <= count_readable(session, reader, fixture, window) <= VISIBLE_RANGE[1]:
                    windows.append(window)
                    if len(windows) == count:
                        return windows
    finally:
        engine.dispose()
    raise StepFailedError(f"found only {len(windows)} windows holding {VISIBLE_RANGE} readable features")


def _window_params(window: BBox) -> dict[str, float]:
    return {"w": window.west, "s": window.south, "e": window.east, "n": window.north}


def raw_query(conn: psycopg.Connection[Any], caller: Caller | None, sql: str, params: dict[str, Any]) -> int:
    """(a0)/(a1): one transaction, the caller's context (unless None), the statement, every row fetched."""
    with conn.transaction():
        if caller is not None:
            set_context(conn, caller)
        return len(conn.execute(sql, params, prepare=True).fetchall())


def service_sql(reader: Caller, fixture: Fixture, window: BBox) -> tuple[str, dict[str, Any]]:
    """(a1): the very SQL and parameters of (a2)'s page statement, as the service sends them to psycopg."""
    statement = service_statements(reader, fixture, window)["page"]
    compiled = statement.compile(dialect=PSYCOPG_DIALECT, compile_kwargs={"render_postcompile": True})
    return str(compiled), dict(compiled.params)


def api_query(client: httpx.Client, project_id: uuid.UUID, window: BBox) -> httpx.Response:
    """(a2): one page of up to 1,000 features, body read."""
    bbox = f"{window.west},{window.south},{window.east},{window.north}"
    return client.get(
        "/api/v1/annotations", params={"project": str(project_id), "bbox": bbox, "limit": MAX_PAGE}
    )


def features_in(response: httpx.Response) -> int:
    if response.status_code != 200:
        raise StepFailedError(f"GET {response.url} answered {response.status_code}: {response.text[:300]}")
    return len(orjson.loads(response.content)["items"])


@dataclass
class Case:
    """One way of answering a bbox request. ``run(window)`` does the timed work and returns a function that
    counts the features, called after the clock stops (parsing a response is not timed)."""

    key: str
    what: str
    run: Callable[[BBox], Callable[[], int]]
    seconds: list[float] = field(default_factory=list)
    features: list[int] = field(default_factory=list)

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p95_ms(self) -> float:
        return statistics.quantiles(self.seconds, n=20, method="inclusive")[18] * 1000


def timed(case: Case, window: BBox) -> None:
    started = time.perf_counter()
    counter = case.run(window)
    case.seconds.append(time.perf_counter() - started)
    case.features.append(counter())


def warm_up(case: Case, windows: Sequence[BBox]) -> None:
    for window in windows[:WARM_UP]:
        started = time.perf_counter()
        case.run(window)()
        if time.perf_counter() - started > SLOW_REQUEST_S:
            return


def measure_cases(cases: Sequence[Case], windows: Sequence[BBox], passes: int) -> None:
    """Warm up, then every window with every case in turn (a burst of load elsewhere hits all cases), for
    ``passes`` passes or until PHASE_BUDGET_S is spent (but at least MIN_REQUESTS per case)."""
    for case in cases:
        warm_up(case, windows)
    started = time.perf_counter()
    for _ in range(passes):
        for window in windows:
            if time.perf_counter() - started > PHASE_BUDGET_S and len(cases[0].seconds) >= MIN_REQUESTS:
                return
            for case in cases:
                timed(case, window)


@dataclass(frozen=True)
class QueryContext:
    bench: BenchDatabase
    fixture: Fixture
    reader: Caller
    windows: list[BBox]
    env: dict[str, str]
    token: str
    scratch: Path
    passes: int


def bbox_cases(ctx: QueryContext, label: str, *, with_floor: bool) -> list[Case]:
    """Measure (a0) (when ``with_floor`` and we are superuser), (a1) and (a2); returns the cases."""
    with (
        api_server(ctx.env, ctx.scratch / f"serve-{re.sub(r'[^a-z]+', '-', label)}.log") as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ctx.token}"}, timeout=120) as client,
        psycopg.connect(libpq(service_url(ctx.bench.owner_url))) as service,
        psycopg.connect(libpq(ctx.bench.owner_url)) as owner,
    ):
        statements = {window: service_sql(ctx.reader, ctx.fixture, window) for window in ctx.windows}

        def as_owner(window: BBox) -> Callable[[], int]:
            n = raw_query(owner, None, RAW_BBOX_SQL, _window_params(window))
            return lambda: n

        def as_service(window: BBox) -> Callable[[], int]:
            n = raw_query(service, ctx.reader, *statements[window])
            return lambda: n

        def through_api(window: BBox) -> Callable[[], int]:
            response = api_query(client, ctx.fixture.project_id, window)
            return lambda: features_in(response)

        cases = [
            Case("(a1)", f"the API's SQL via psycopg, {SERVICE_ROLE}, RLS", as_service),
            Case("(a2)", "GET /api/v1/annotations?bbox=..&limit=1000", through_api),
        ]
        if with_floor and ctx.bench.superuser:
            cases.insert(0, Case("(a0)", "3-column SQL, superuser, no RLS (floor)", as_owner))
        measure_cases(cases, ctx.windows, ctx.passes)
    return cases


def service_statements(reader: Caller, fixture: Fixture, window: BBox) -> dict[str, Any]:
    """The page and count statements ``list_annotations`` runs for (a2)'s request."""
    filters = AnnotationFilter(project_id=fixture.project_id, bbox=window)
    return {
        "page": page_statement(reader, filters, limit=MAX_PAGE, offset=0),
        "count": count_statement(reader, filters),
    }


@dataclass(frozen=True)
class Plan:
    name: str
    lines: list[str]

    @property
    def uses_gist(self) -> bool:
        return any(GIST_INDEX in line for line in self.lines)

    @property
    def execution_ms(self) -> float:
        for line in self.lines:
            if match := re.match(r"Execution Time: ([\d.]+) ms", line.strip()):
                return float(match.group(1))
        return float("nan")


def explain(database: Database, reader: Caller, fixture: Fixture, window: BBox) -> list[Plan]:
    """EXPLAIN (ANALYZE, BUFFERS) of the service's statements, as the service role with the reader's
    context: exactly what (a2) runs, RLS included."""
    plans = []
    with database.transaction(reader) as session:
        connection = session.connection()
        for name, statement in service_statements(reader, fixture, window).items():
            compiled = statement.compile(
                dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
            )
            result = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", compiled.params)
            plans.append(Plan(name, [str(row[0]) for row in result]))
    return plans


@dataclass(frozen=True)
class Experiment:
    """A change to the benchmark database only (superuser), made for one phase and reverted after it."""

    name: str
    apply: str
    revert: str


#: Lets the planner use the GiST index for ``&&`` under RLS (MARKINGS.md section 6).
LEAKPROOF_OVERLAPS = Experiment(
    "&& LEAKPROOF",
    f"ALTER FUNCTION {OVERLAPS_FUNCTION} LEAKPROOF",
    f"ALTER FUNCTION {OVERLAPS_FUNCTION} NOT LEAKPROOF",
)
#: geo_label_ctx (STABLE SQL) calls the plpgsql geo_label_missing_context, VOLATILE by default, so the
#: planner cannot inline it and the policy makes about ten SQL function calls per row. Declared STABLE (it
#: only raises), geo_label_ctx inlines into plain current_setting() expressions.
STABLE_CONTEXT = Experiment(
    "geo_label_missing_context STABLE",
    f"ALTER FUNCTION {MISSING_CONTEXT_FUNCTION} STABLE",
    f"ALTER FUNCTION {MISSING_CONTEXT_FUNCTION} VOLATILE",
)


@contextmanager
def experiments(bench: BenchDatabase, changes: Sequence[Experiment]) -> Iterator[None]:
    """EXPERIMENT: apply ``changes`` to the benchmark database for the block, then revert them."""
    with psycopg.connect(libpq(bench.owner_url), autocommit=True) as admin:
        done: list[Experiment] = []
        try:
            for change in changes:
                admin.execute(change.apply)
                done.append(change)
            yield
        finally:
            for change in reversed(done):
                admin.execute(change.revert)


def is_volatile(bench: BenchDatabase, function: str) -> bool:
    with psycopg.connect(libpq(bench.owner_url)) as conn:
        row = conn.execute(
            "SELECT provolatile FROM pg_proc WHERE oid = %s::regprocedure", (function,)
        ).fetchone()
    return row is not None and row[0] == "v"


# --- (b) export ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportRun:
    key: str
    what: str
    run: ProcessRun
    features: int
    size_mb: float


def run_export(ctx: QueryContext) -> ExportRun:
    out = ctx.scratch / "export.geojson"
    command = [*geo_label_command(), "export", "--project", PROJECT_NAME, "--as", READER, "-o", str(out)]
    run = measured_run(command, ctx.env, ctx.scratch / "export-logs")
    match = re.search(r"exported (\d+) features", run.stdout)
    if match is None or not out.is_file():
        raise StepFailedError(f"geo-label export wrote no {out}: {run.stdout.strip()[-300:]}")
    size = out.stat().st_size / 1e6
    out.unlink()
    return ExportRun("(b1)", f"geo-label export --as {READER}", run, int(match.group(1)), size)


def pg_conninfo(url: str) -> tuple[str, dict[str, str]]:
    """libpq key=value connection info for ogr2ogr, and its environment (the password, if any, in
    PGPASSWORD rather than on the command line)."""
    parsed = make_url(url)
    query = {key: str(value) for key, value in parsed.query.items()}
    params = {
        "dbname": parsed.database,
        "user": parsed.username,
        "host": parsed.host or query.get("host"),
        "port": str(parsed.port) if parsed.port else query.get("port"),
    }
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return make_conninfo("", **{key: value for key, value in params.items() if value}), env


def run_ogr2ogr(ctx: QueryContext, executable: str, total: int) -> ExportRun:
    out = ctx.scratch / "ogr2ogr.geojson"
    conninfo, env = pg_conninfo(ctx.bench.owner_url)
    sql = "SELECT id, label_class, geometry FROM annotations"
    command = [executable, "-f", "GeoJSON", str(out), f"PG:{conninfo}", "-sql", sql]
    run = measured_run(command, env, ctx.scratch / "ogr2ogr-logs")
    if not out.is_file():
        raise StepFailedError(f"ogr2ogr wrote no {out}")
    size = out.stat().st_size / 1e6
    out.unlink()
    return ExportRun("(b0)", "ogr2ogr -f GeoJSON, superuser, 2 columns", run, total, size)


# --- the report ------------------------------------------------------------------------------------------


def goal(ratio: float, bound: float) -> str:
    return f"goal <= {bound:.2f}: {'met' if ratio <= bound else 'not met'}"


def print_cases(title: str, cases: Sequence[Case]) -> None:
    print(f"\n{title} (load average now {os.getloadavg()[0]:.2f})")
    print(f"  {'case':<5} {'what':<46} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'features/request':>17}")
    for case in cases:
        features = f"{min(case.features)}-{max(case.features)}"
        print(
            f"  {case.key:<5} {case.what:<46} {len(case.seconds):8d} {case.p50_ms:8.1f} {case.p95_ms:8.1f} "
            f"{features:>17}"
        )
    t = {case.key: case for case in cases}
    ratio = t["(a2)"].p50_ms / t["(a1)"].p50_ms
    print(f"  p50 (a2)/(a1) {ratio:5.2f}  API over raw SQL under RLS    {goal(ratio, GOAL_API_OVER_RAW)}")
    if "(a0)" in t:
        print(f"  p50 (a1)/(a0) {t['(a1)'].p50_ms / t['(a0)'].p50_ms:5.2f}  RLS over no RLS (raw SQL)")
        print(f"  p50 (a2)/(a0) {t['(a2)'].p50_ms / t['(a0)'].p50_ms:5.2f}  API over the floor")
    if any(a != b for a, b in zip(t["(a1)"].features, t["(a2)"].features, strict=True)):
        print("  note: (a1) and (a2) returned different numbers of features for some windows")


def print_plans(title: str, plans: Sequence[Plan]) -> None:
    """Both statements' verdicts; the page statement's plan in full (lines cut at PLAN_LINE_CHARS)."""
    print(f"\n{title}")
    for plan in plans:
        verdict = "uses" if plan.uses_gist else "does NOT use"
        print(f"  {plan.name} statement {verdict} {GIST_INDEX}; execution {plan.execution_ms:.1f} ms")
        for line in plan.lines if plan.name == "page" else []:
            text = line if len(line) <= PLAN_LINE_CHARS else line[: PLAN_LINE_CHARS - 3] + "..."
            print(f"    | {text}")


def print_exports(runs: Sequence[ExportRun]) -> None:
    print(f"  load average now {os.getloadavg()[0]:.2f}")
    print(f"\n  {'case':<5} {'what':<42} {'seconds':>8} {'features':>9} {'feat/s':>8} {'MB':>7} {'MB/s':>6}")
    for r in runs:
        print(
            f"  {r.key:<5} {r.what:<42} {r.run.seconds:8.1f} {r.features:9d} "
            f"{r.features / r.run.seconds:8.0f} {r.size_mb:7.0f} {r.size_mb / r.run.seconds:6.1f}"
            f"   peak {r.run.peak_mb:5.0f} MB"
        )


def print_export_ratios(export: ExportRun, ogr: ExportRun | None) -> None:
    if ogr is not None:
        ratio = export.run.seconds / ogr.run.seconds
        per_feature = (export.run.seconds / export.features) / (ogr.run.seconds / ogr.features)
        print(
            f"  (b1)/(b0) {ratio:5.2f}  export time over ogr2ogr time    "
            f"{goal(ratio, GOAL_EXPORT_OVER_OGR2OGR)}"
        )
        print(f"  (b1)/(b0) {per_feature:5.2f}  the same per feature")
    met = "met" if export.run.peak_mb < GOAL_EXPORT_PEAK_MB else "not met"
    print(
        f"  (b1) peak {export.run.peak_mb:5.0f} MB  export peak RSS           "
        f"goal < {GOAL_EXPORT_PEAK_MB:.0f} MB: {met}"
    )


# --- main ------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--annotations", type=int, default=DEFAULT_ANNOTATIONS, help="annotations to load")
    parser.add_argument("--passes", type=int, default=3, help="passes over the 30 bbox windows")
    parser.add_argument("--keep", action="store_true", help="keep the database (and bench-output files)")
    args = parser.parse_args(argv)
    if args.annotations < MIN_ANNOTATIONS:
        parser.error(f"--annotations must be at least {MIN_ANNOTATIONS:,}")
    if args.passes < 1:
        parser.error("--passes must be at least 1")
    return args


def load(bench: BenchDatabase, database: Database, annotations: int) -> Fixture:
    with psycopg.connect(libpq(bench.owner_url), autocommit=True) as admin:
        print(f"  server   {server_versions(admin)}")
        fixture, seconds = load_fixture(database, admin, default_registry(), annotations)
        heap, indexes = table_size_mb(admin, "annotations")
    print(
        f"  load     {annotations:,} annotations by COPY in {seconds:.1f} s ({annotations / seconds:,.0f}/s, "
        "history trigger disabled during the COPY, indexes maintained, VACUUM ANALYZE included); "
        f"table {heap:.0f} MB + indexes {indexes:.0f} MB",
        flush=True,
    )
    return fixture


def experiment_phases(bench: BenchDatabase, plans: Sequence[Plan]) -> list[list[Experiment]]:
    """The experiments worth measuring, cumulatively: LEAKPROOF when the index is not used under RLS, then the
    inlinable context function when it is not yet STABLE."""
    phases: list[list[Experiment]] = []
    if not all(plan.uses_gist for plan in plans):
        phases.append([LEAKPROOF_OVERLAPS])
    if is_volatile(bench, MISSING_CONTEXT_FUNCTION):
        phases.append([*(phases[-1] if phases else []), STABLE_CONTEXT])
    return phases


def bbox_phase(ctx: QueryContext, database: Database, label: str, *, with_floor: bool) -> list[Plan]:
    plans = explain(database, ctx.reader, ctx.fixture, ctx.windows[0])
    print_plans(f"EXPLAIN (ANALYZE, BUFFERS) of (a2)'s SQL, {label}", plans)
    print_cases(label, bbox_cases(ctx, label, with_floor=with_floor))
    return plans


def bbox_report(ctx: QueryContext, database: Database) -> None:
    side = ctx.windows[0].east - ctx.windows[0].west
    print(
        f"\n(a) bbox queries: {len(ctx.windows)} windows of {side:.4f} degrees, {VISIBLE_RANGE[0]}-"
        f"{VISIBLE_RANGE[1]} readable features each; up to {ctx.passes} passes, a phase's timed requests "
        f"stop after {PHASE_BUDGET_S:.0f} s (at least {MIN_REQUESTS} per case)",
        flush=True,
    )
    plans = bbox_phase(ctx, database, "schema as migrated", with_floor=True)
    phases = experiment_phases(ctx.bench, plans)
    if phases and not ctx.bench.superuser:
        print("\nthe experiments below change functions: they need a superuser, and were skipped")
        return
    for changes in phases:
        label = " + ".join(change.name for change in changes)
        print(
            "\nEXPERIMENT, in the benchmark database only and reverted afterwards: "
            + "; ".join(change.apply for change in changes)
        )
        with experiments(ctx.bench, changes):
            bbox_phase(ctx, database, label, with_floor=False)


def export_report(ctx: QueryContext) -> None:
    print(f"\n(b) export of the whole project ({ctx.fixture.annotations:,} annotations)", flush=True)
    ogr2ogr = shutil.which("ogr2ogr")
    ogr = None
    if ogr2ogr is None:
        print("  ogr2ogr is missing (apt-get install gdal-bin): (b0) and the time ratio are skipped")
    else:
        ogr = run_ogr2ogr(ctx, ogr2ogr, ctx.fixture.annotations)
    export = run_export(ctx)
    print_exports([run for run in (ogr, export) if run is not None])
    print_export_ratios(export, ogr)


def run(args: argparse.Namespace) -> None:
    with bench_database(keep=args.keep) as bench:
        database = Database.connect(bench.owner_url, audit_key=BENCH_AUDIT_KEY, pool_size=2)
        scratch = scratch_folder("service")
        try:
            fixture = load(bench, database, args.annotations)
            reader = load_reader(database)
            windows = pick_windows(bench, reader, fixture, WINDOWS)
            key = secrets.token_hex(32)
            token = bench_token(bench.owner_url, reader.user_id, key)
            ctx = QueryContext(
                bench, fixture, reader, windows, child_env(bench, scratch, key), token, scratch, args.passes
            )
            bbox_report(ctx, database)
            export_report(ctx)
        finally:
            database.dispose()
            if not args.keep:
                remove_folder(scratch)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_report(
        "GeoLabel service benchmark",
        lambda: run(args),
        details=[
            f"fixture  1 project, 1 image, 2,500 chips, {args.annotations:,} annotations over a 2 x 2 degree "
            f"region; reader {READER}: {READER_CLEARANCE}, {READER_CITIZENSHIP} (may read 95%)"
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
