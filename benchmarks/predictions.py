"""Model-assisted labeling benchmark (issue 13): importing a model's predictions.

(import) The service benchmark's project (one image over a 2 x 2 degree region, a 50 x 50 grid of chips),
a model registered with it, and a GeoJSON text sequence of ``--predictions`` (1,000,000) rotated rectangles
of 10 to 50 m with a class and a score. Per pass, as whole processes and in turns:

(i1) the baseline: ``ogr2ogr -f PostgreSQL`` of the same file into a plain table (its own COPY, a GiST
     index), the table dropped first;
(i2) ``geo-label predictions import FILE --project P --model bench@1 --marking UNCLASSIFIED``: every record
     checked, placed on its chip, marked and inserted under row-level security, deduplicated per model
     (the predictions table emptied first, so each pass inserts them all).

Printed: the median wall time of each, (i2)/(i1) (goal: at most 1.5) and (i2)'s peak memory (goal: under
400 MB, flat in the file's size: also measured at a tenth of the file).

Usage: ``python benchmarks/predictions.py [--predictions 1000000] [--passes 3] [--keep]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import shapely

_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

from access_control import default_registry  # noqa: E402
from benchmarks._common import BENCH_AUDIT_KEY, OUTPUT  # noqa: E402
from benchmarks._service_data import CLASS_SHARES, CLASSES, PROJECT_NAME, REGION, load_fixture  # noqa: E402
from benchmarks.service import (  # noqa: E402
    ProcessRun,
    bench_database,
    child_env,
    geo_label_command,
    libpq,
    measured_run,
    pg_conninfo,
)
from geo_label.db.engine import Database  # noqa: E402

SIGNING_KEY = "p" * 48
MODEL = "bench@1"
WRITE_BATCH = 100_000
METRES_PER_DEGREE = 111_320.0


def write_predictions(path: Path, count: int, seed: int = 7) -> None:
    """``count`` rotated rectangles over the region as a GeoJSON text sequence, each with a class and a
    score."""
    rng = np.random.default_rng(seed)
    west, south, east, north = REGION
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)], dtype=float)
    names = [c.name for c in CLASSES]
    with path.open("w") as out:
        for start in range(0, count, WRITE_BATCH):
            n = min(WRITE_BATCH, count - start)
            lon = rng.uniform(west + 0.001, east - 0.001, n)
            lat = rng.uniform(south + 0.001, north - 0.001, n)
            half_length = rng.uniform(5.0, 25.0, n)
            half_width = half_length * rng.uniform(0.3, 1.0, n)
            angle = rng.uniform(0.0, np.pi, n)
            x, y = corners[:, 0] * half_length[:, None], corners[:, 1] * half_width[:, None]
            cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
            east_m, north_m = x * cos - y * sin, x * sin + y * cos
            scale = METRES_PER_DEGREE * np.cos(np.radians(lat))[:, None]
            coords = np.stack([lon[:, None] + east_m / scale, lat[:, None] + north_m / METRES_PER_DEGREE], -1)
            geometries = shapely.to_geojson(shapely.polygons(np.round(coords, 7)))
            classes = rng.choice(len(names), n, p=CLASS_SHARES)
            scores = rng.uniform(0.05, 1.0, n)
            out.writelines(
                f'{{"type":"Feature","geometry":{geometry},"properties":{{"class":"{names[c]}",'
                f'"score":{score:.4f}}}}}\n'
                for geometry, c, score in zip(geometries, classes, scores, strict=True)
            )


def ogr2ogr_once(owner_url: str, path: Path, logs: Path) -> ProcessRun:
    executable = shutil.which("ogr2ogr")
    if executable is None:
        raise SystemExit("ogr2ogr is missing: `make bench` installs gdal-bin")
    conninfo, env = pg_conninfo(owner_url)
    command = [executable, "-f", "PostgreSQL", f"PG:{conninfo}", str(path), "-nln", "plain_predictions"]
    command += ["-overwrite", "-lco", "GEOMETRY_NAME=geometry"]
    return measured_run(command, env, logs)


def import_once(env: dict[str, str], path: Path, logs: Path) -> tuple[ProcessRun, dict[str, Any]]:
    command = [*geo_label_command(), "predictions", "import", str(path), "--project", PROJECT_NAME]
    command += ["--model", MODEL, "--marking", "UNCLASSIFIED", "--json"]
    run = measured_run(command, env, logs)
    return run, json.loads(run.stdout)


def empty(owner_url: str) -> None:
    with psycopg.connect(libpq(owner_url), autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS plain_predictions")
        admin.execute("TRUNCATE predictions CASCADE")
        admin.execute("VACUUM predictions")


def part_import(args: argparse.Namespace) -> None:
    with bench_database(keep=args.keep) as bench, tempfile.TemporaryDirectory(dir=OUTPUT) as work:
        scratch = Path(work)
        database = Database.connect(bench.owner_url, audit_key=BENCH_AUDIT_KEY)
        try:
            with psycopg.connect(libpq(bench.owner_url), autocommit=True) as admin:
                load_fixture(database, admin, default_registry(), 0)
        finally:
            database.dispose()
        env = child_env(bench, scratch / "data", SIGNING_KEY)
        name, version = MODEL.split("@")
        measured_run(
            [*geo_label_command(), "models", "add", PROJECT_NAME, name, "--version", version],
            env,
            scratch / "logs",
        )
        small, full = scratch / "small.geojsonl", scratch / "full.geojsonl"
        write_predictions(small, args.predictions // 10, seed=8)
        write_predictions(full, args.predictions)
        print(f"file: {args.predictions} predictions, {full.stat().st_size / 1e6:.0f} MB")
        empty(bench.owner_url)
        small_run, small_report = import_once(env, small, scratch / "logs")
        times: dict[str, list[float]] = {"ogr": [], "import": []}
        peaks: list[float] = []
        report: dict[str, Any] = {}
        for _ in range(args.passes):
            empty(bench.owner_url)
            times["ogr"].append(ogr2ogr_once(bench.owner_url, full, scratch / "logs").seconds)
            empty(bench.owner_url)
            run, report = import_once(env, full, scratch / "logs")
            times["import"].append(run.seconds)
            peaks.append(run.peak_mb)
    ogr, imported = statistics.median(times["ogr"]), statistics.median(times["import"])
    ratios = [i / o for i, o in zip(times["import"], times["ogr"], strict=True)]
    print(f"(i1) ogr2ogr -f PostgreSQL: {ogr:.2f} s")
    print(
        f"(i2) predictions import: {imported:.2f} s, imported {report.get('imported')}, refused "
        f"{report.get('refused_total')}, peak {max(peaks):.0f} MB (at a tenth of the file: "
        f"{small_run.peak_mb:.0f} MB, {small_report.get('imported')} imported)"
    )
    print(
        f"(i2)/(i1) = {imported / ogr:.2f} (passes {min(ratios):.2f}..{max(ratios):.2f}; goal <= 1.5: "
        f"{'met' if imported / ogr <= 1.5 else 'NOT met'}); peak memory goal < 400 MB: "
        f"{'met' if max(peaks) < 400 else 'NOT met'}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark database (to explain).")
    args = parser.parse_args(argv)
    OUTPUT.mkdir(exist_ok=True)
    part_import(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
