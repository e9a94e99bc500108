"""`geo-label selftest`: prove on this host that GeoLabel can do the whole job, one line per check.

The checks that write (a database, an ingest, an annotation, an export) run in a scratch installation under
the data directory (its own embedded PostgreSQL, its own keys), removed afterwards: production data is
neither read nor changed, and no test account is left behind. The installed service is checked as it runs:
when it does not answer, it is started for the check and stopped afterwards.

Every connection is to 127.0.0.1; the Dask cluster of the tiling check listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from geo_label.cli.common import CliError, app
from geo_label.console import stdout
from geo_label.private_files import prepare_data_dir
from geo_label.settings import load_settings

USER = "selftest"
PROJECT = "selftest"
MARKING = "UNCLASSIFIED"
START_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 300.0


class CheckFailed(Exception):
    """One check failed; the message says why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli(*args: str, env: dict[str, str], stdin: str | None = None) -> str:
    """Run this installation's `geo-label` (the same interpreter) and return its output; a failure is a
    CheckFailed with the command's one-line error."""
    command = [sys.executable, "-m", "geo_label", *args]
    try:
        done = subprocess.run(
            command, env=env, input=stdin, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"geo-label {args[0]} timed out") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise CheckFailed(f"geo-label {' '.join(args[:2])}: {reason}")
    return done.stdout


def http(
    url: str, *, data: dict[str, Any] | None = None, token: str | None = None, timeout: float = 10
) -> tuple[int, bytes]:
    """A request to the loopback service; the status and body (never raises for HTTP statuses)."""
    import urllib.error  # here, not at import: every `geo-label` command loads this module
    import urllib.request

    headers = {"Accept": "application/json"}
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise CheckFailed(f"{url}: {getattr(exc, 'reason', exc)}") from None


def answers(base: str) -> bool:
    try:
        status, _ = http(f"{base}/api/v1/health", timeout=2)
    except CheckFailed:
        return False
    return status == 200


@contextmanager
def service(base: str, host: str, port: int, env: dict[str, str]) -> Iterator[None]:
    """`geo-label serve` on ``host:port`` until the block ends (SIGTERM, then a wait)."""
    command = [sys.executable, "-m", "geo_label", "serve", "--host", host, "--port", str(port)]
    with running_service(command, base, env):
        yield


@contextmanager
def running_service(command: list[str], base: str, env: dict[str, str] | None) -> Iterator[None]:
    """``command``, a GeoLabel service that answers on ``base``, from its first health answer until the
    block ends (SIGTERM, then a wait); one that stops or never answers is a CheckFailed."""
    with tempfile.TemporaryFile() as errors:  # what the service says: the reason it never answered
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)

        def last_words() -> str:
            errors.seek(0)
            lines = errors.read().decode(errors="replace").strip().splitlines()
            return lines[-1] if lines else "no message"

        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not answers(base):
                if process.poll() is not None:
                    raise CheckFailed(f"the service stopped at start: {last_words()}")
                if time.monotonic() > deadline:
                    raise CheckFailed(
                        f"the service did not answer on {base} within {START_TIMEOUT_S:.0f} s: {last_words()}"
                    )
                time.sleep(0.2)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def report(name: str, check: Callable[[], str]) -> None:
    started = time.perf_counter()
    try:
        detail = check()
    except CheckFailed as exc:
        raise CliError(f"selftest: {name}: FAILED: {exc}") from None
    stdout.print(f"selftest: {name}: ok ({detail}, {time.perf_counter() - started:.1f} s)", markup=False)


def check_proj_grid() -> str:
    import pyproj
    from pyproj.transformer import TransformerGroup

    import imagery  # noqa: F401  (network off, grid folders added)

    if pyproj.network.is_network_enabled():  # type: ignore[attr-defined]
        raise CheckFailed("PROJ's network access is on")
    group = TransformerGroup("EPSG:4314", "EPSG:4326", always_xy=True)
    if not group.transformers or "hgridshift" not in group.transformers[0].definition:
        raise CheckFailed("no datum shift grid found for DHDN to WGS 84 (is proj-data installed?)")
    lon, lat = group.transformers[0].transform(10.0, 50.0)
    if abs(lon - 10.0) < 1e-6 or abs(lat - 50.0) < 1e-6:
        raise CheckFailed("the grid transform did not shift the point")
    return f"DHDN to WGS 84 through BETA2007, {lon:.6f} {lat:.6f}"


def check_raster(scene: Path, env: dict[str, str]) -> str:
    from imagery import inspect_image, open_raster

    cli("sample-scene", str(scene), "--size", "1024", env=env)
    info = inspect_image(scene)
    with open_raster(scene) as opened:
        block = opened.dataset.read(1, window=((0, 256), (0, 256)))
    if int(block.max()) == 0:
        raise CheckFailed("the sample scene reads back empty")
    return f"{info.width} x {info.height}, {info.band_count} bands, {info.crs_name}"


def check_postgis(scratch: Path) -> str:
    import psycopg

    from geo_label.db.embedded import EmbeddedCluster

    cluster = EmbeddedCluster(scratch / "postgres")
    with psycopg.connect(
        host=str(cluster.socket_dir), port=5432, dbname="geo_label", user="geo_label_owner"
    ) as connection:
        row = connection.execute(
            "SELECT ST_AsText(ST_SnapToGrid(ST_Transform(ST_SetSRID(ST_MakePoint(500000, 0), 32633), "
            "4326), 0.000001)), postgis_lib_version()"
        ).fetchone()
    if row is None or row[0] != "POINT(15 0)":
        raise CheckFailed(f"ST_Transform gave {row}")
    return f"ST_Transform UTM 33N to WGS 84, PostGIS {row[1]}"


def check_ingest(scene: Path, env: dict[str, str]) -> str:
    from distributed import LocalCluster

    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        address = str(cluster.scheduler_address)
        if not address.startswith("tcp://127.0.0.1:"):
            raise CheckFailed(f"the Dask scheduler listens on {address}")
        output = cli(
            "ingest", str(scene), "--project", PROJECT, "--marking", MARKING, "--scheduler", address, env=env
        )
    return f"Dask cluster on {address}: {output.strip().split(': ', 1)[-1]}"


def draw_square(base: str, token: str, label_class: str) -> str:
    """Save a square of about a metre at the middle of the first chip the token's user may read; its id."""
    status, body = http(f"{base}/api/v1/chips?limit=1", token=token)
    chips = json.loads(body).get("items", []) if status == 200 else []
    if not chips:
        raise CheckFailed(f"the chip list answered {status} with no chip")
    chip = chips[0]
    ring = chip["geometry"]["coordinates"][0]
    lon = sum(point[0] for point in ring[:-1]) / (len(ring) - 1)
    lat = sum(point[1] for point in ring[:-1]) / (len(ring) - 1)
    d = 1e-5
    square = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    status, body = http(
        f"{base}/api/v1/annotations",
        token=token,
        data={
            "chip_id": chip["id"],
            "class": label_class,
            "geometry": {"type": "Polygon", "coordinates": [square]},
        },
    )
    if status != 201:
        raise CheckFailed(f"saving an annotation answered {status}: {body[:200].decode(errors='replace')}")
    return str(json.loads(body)["id"])


def check_service_in(base: str, password: str) -> str:
    status, body = http(f"{base}/api/v1/auth/token", data={"username": USER, "password": password})
    if status != 200:
        raise CheckFailed(f"sign-in answered {status}")
    token = json.loads(body)["access_token"]
    status, body = http(f"{base}/api/v1/projects", token=token)
    projects = [item["name"] for item in json.loads(body).get("items", [])] if status == 200 else []
    if PROJECT not in projects:
        raise CheckFailed(f"the project list answered {status} without the scratch project")
    draw_square(base, token, "vehicle")
    for page in ("/", "/docs"):
        status, _ = http(f"{base}{page}")
        if status != 200:
            raise CheckFailed(f"{page} answered {status}")
    return "sign-in, project list, chip list, a saved annotation, the UI shell and /docs"


def check_export(out: Path, env: dict[str, str]) -> str:
    cli("export", "--project", PROJECT, "--as", USER, "-o", str(out), env=env)
    collection = json.loads(out.read_text())
    features = collection.get("features", [])
    if len(features) != 1 or not features[0]["properties"].get("marking"):
        raise CheckFailed(f"the export holds {len(features)} features, 1 marked feature expected")
    return f"1 feature, banner {collection.get('banner', '?')}"


def check_installed_service(env: dict[str, str]) -> str:
    host = os.environ.get("GEO_LABEL_HOST", "127.0.0.1")
    port = int(os.environ.get("GEO_LABEL_PORT", "8000"))
    local = "127.0.0.1" if host in ("0.0.0.0", "127.0.0.1", "") else host
    base = f"http://{local}:{port}"
    if answers(base):
        return f"running, {base} answers"
    with service(base, host, port, env):
        pass
    return f"was not running: started on {base}, answered, stopped"


def scratch_project(env: dict[str, str], password: str) -> str:
    cli(
        "users",
        "add",
        USER,
        "--clearance",
        MARKING,
        "--citizenship",
        "USA",
        "--password-stdin",
        env=env,
        stdin=password + "\n",
    )
    cli("projects", "create", PROJECT, "--marking", MARKING, "--classes", "vehicle", env=env)
    cli("projects", "add-member", PROJECT, USER, "--role", "labeler", env=env)
    return f"user {USER}, project {PROJECT}"


def scratch_environment(scratch: Path) -> dict[str, str]:
    """This process's environment for a scratch installation: its own data folder and embedded database,
    nothing of the production configuration that points elsewhere."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GEO_LABEL_") or key in ("GEO_LABEL_PROJ_GRIDS", "GEO_LABEL_SERVICE_GROUP")
    }
    return {**kept, "GEO_LABEL_DATA_DIR": str(scratch)}


@app.command()
def selftest() -> None:
    """Prove this host can run GeoLabel: PROJ grids, rasters, PostGIS, a Dask ingest on 127.0.0.1, the
    service (sign-in, lists, an annotation), an export, and the installed service answering. The checks that
    write use a scratch installation under the data directory, removed afterwards."""
    settings = load_settings()
    root = os.geteuid() == 0  # then the embedded PostgreSQL runs as postgres and must reach its folders
    prepare_data_dir(settings.data_dir, traversable=root, service_group=settings.service_group)
    scratch = Path(tempfile.mkdtemp(prefix="selftest-", dir=settings.data_dir)).absolute()
    env = scratch_environment(scratch)
    try:
        run_checks(scratch, env)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    stdout.print("selftest: all checks passed", markup=False)


def run_checks(scratch: Path, env: dict[str, str]) -> None:
    from geo_label.db.embedded import embedded_database

    prepare_data_dir(scratch, traversable=os.geteuid() == 0, service_group=None)
    scene = scratch / "scene.tif"
    password = secrets.token_urlsafe(18)  # the scratch account's: new on every run, gone with the scratch
    report("PROJ transform with a grid", check_proj_grid)
    report("raster write and read", lambda: check_raster(scene, env))
    # The scratch cluster stays up while the checks run (this process holds a lease on it).
    with embedded_database(scratch):
        report("database and keys", lambda: cli("init", env=env).strip().split(": ", 1)[0])
        report("PostGIS", lambda: check_postgis(scratch))
        report("scratch account and project", lambda: scratch_project(env, password))
        report("ingest (Dask on 127.0.0.1)", lambda: check_ingest(scene, env))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with service(base, "127.0.0.1", port, env):
            report("service", lambda: check_service_in(base, password))
        report("export", lambda: check_export(scratch / "export.geojson", env))
    report("installed service", lambda: check_installed_service(dict(os.environ)))
