"""Model-assisted labeling benchmark (issue 13): importing a model's predictions, and measuring a model.

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

(evaluate) The service benchmark's fixture with ``--labels`` (100,000) labels, every one accepted and every
chip done, and as many predictions of a model: most a labeled object moved and resized a little, some of
nothing, each with a score. Per pass, as whole processes:

(e1) the baseline: pycocotools (``COCO``, ``loadRes``, ``COCOeval`` bbox: evaluate, accumulate, summarize)
     on the same objects' boxes, read from COCO JSON files, a chip per COCO image;
(e2) ``geo-label models evaluate PROJECT bench@1 --json``: read from PostgreSQL under row-level security,
     labels merged into objects, matched at ten IoU thresholds, every figure of the report.

Printed: medians, (e2)/(e1) (goal: at most 1) and (e2)'s peak memory.

Usage: ``python benchmarks/predictions.py [--part import|evaluate|both] [--predictions 1000000]
[--labels 100000] [--passes 3] [--keep]``
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
import shapely.affinity

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


PYCOCOTOOLS = """
import contextlib, io, sys
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
with contextlib.redirect_stdout(io.StringIO()):
    truth = COCO(sys.argv[1])
    found = truth.loadRes(sys.argv[2])
    evaluation = COCOeval(truth, found, "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
print(evaluation.stats[1])
"""


def accept_everything(admin: psycopg.Connection[Any], fixture: Any) -> None:
    """Every label accepted, every chip's task accepted (as a finished, reviewed project leaves them)."""
    admin.execute("ALTER TABLE annotations DISABLE TRIGGER annotations_history")
    try:
        admin.execute("UPDATE annotations SET status = 'accepted', version = version + 1")
    finally:
        admin.execute("ALTER TABLE annotations ENABLE TRIGGER annotations_history")
    admin.execute(
        "INSERT INTO tasks (project_id, chip_id, state, assignee, started_at, submitted_at, work_seconds, "
        "classification, sci_controls, dissemination, rel_to, derived_from) "
        "SELECT project_id, id, 'accepted', %s, now(), now(), 60, classification, sci_controls, "
        "dissemination, rel_to, ARRAY['chip:' || id::text] FROM chips",
        (fixture.reader_id,),
    )
    admin.execute("VACUUM (ANALYZE) annotations")
    admin.execute("ANALYZE tasks")


def write_evaluation_files(
    admin: psycopg.Connection[Any], scratch: Path, seed: int = 11
) -> tuple[Path, Path, Path, int]:
    """From the labels: a GeoJSON text sequence of predictions (80 % a label moved and resized by up to a
    fifth, 20 % of nothing), and the same labels and predictions as COCO files (boxes, a chip per image)."""
    rng = np.random.default_rng(seed)
    rows = admin.execute(
        "SELECT label_class, ST_AsBinary(geometry), chip_id FROM annotations ORDER BY id"
    ).fetchall()
    chips = {chip: n + 1 for n, chip in enumerate(sorted({row[2] for row in rows}))}
    names = sorted({row[0] for row in rows})
    category = {name: k + 1 for k, name in enumerate(names)}
    labels = shapely.from_wkb([bytes(row[1]) for row in rows])
    bounds = shapely.bounds(labels)
    count = len(rows)
    copied = rng.random(count) < 0.8
    size = np.column_stack([bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]])
    shift = rng.uniform(-0.1, 0.1, (count, 2)) * size
    grow = rng.uniform(0.85, 1.15, count)
    found = []
    for k in range(count):
        if copied[k]:
            moved = shapely.affinity.translate(labels[k], *shift[k])
            found.append((rows[k][0], shapely.affinity.scale(moved, grow[k], grow[k]), rows[k][2]))
    extra = count - len(found)
    others = rng.integers(0, count, extra)
    for k in others.tolist():  # nothing there: a label's shape moved well away, on the same chip
        away = shapely.affinity.translate(labels[k], size[k, 0] * 3, size[k, 1] * 3)
        found.append((names[int(rng.integers(0, len(names)))], away, rows[k][2]))
    scores = rng.uniform(0.05, 1.0, len(found))
    sequence = scratch / "evaluate.geojsonl"
    with sequence.open("w") as out:
        for (name, shape, _), score in zip(found, scores, strict=True):
            geometry = shapely.to_geojson(shape)
            out.write(
                f'{{"type":"Feature","geometry":{geometry},"properties":{{"class":"{name}","score":{score:.6f}}}}}\n'
            )

    def box(shape: Any) -> list[float]:
        west, south, east, north = shape.bounds
        return [west, south, east - west, north - south]

    truth = {
        "images": [{"id": n} for n in chips.values()],
        "categories": [{"id": k, "name": name} for name, k in category.items()],
        "annotations": [
            {
                "id": k + 1,
                "image_id": chips[rows[k][2]],
                "category_id": category[rows[k][0]],
                "bbox": box(labels[k]),
                "area": float(labels[k].area),
                "iscrowd": 0,
            }
            for k in range(count)
        ],
    }
    results = [
        {"image_id": chips[chip], "category_id": category[name], "bbox": box(shape), "score": float(score)}
        for (name, shape, chip), score in zip(found, scores, strict=True)
    ]
    truth_file, results_file = scratch / "truth.json", scratch / "results.json"
    truth_file.write_text(json.dumps(truth))
    results_file.write_text(json.dumps(results))
    return sequence, truth_file, results_file, len(found)


def part_evaluate(args: argparse.Namespace) -> None:
    with bench_database(keep=args.keep) as bench, tempfile.TemporaryDirectory(dir=OUTPUT) as work:
        scratch = Path(work)
        database = Database.connect(bench.owner_url, audit_key=BENCH_AUDIT_KEY)
        try:
            with psycopg.connect(libpq(bench.owner_url), autocommit=True) as admin:
                fixture, _ = load_fixture(database, admin, default_registry(), args.labels)
                accept_everything(admin, fixture)
                sequence, truth, results, predictions = write_evaluation_files(admin, scratch)
        finally:
            database.dispose()
        env = child_env(bench, scratch / "data", SIGNING_KEY)
        logs = scratch / "logs"
        name, version = MODEL.split("@")
        measured_run(
            [*geo_label_command(), "models", "add", PROJECT_NAME, name, "--version", version], env, logs
        )
        import_once(env, sequence, logs)
        print(f"fixture: {args.labels} labels, {predictions} predictions")
        evaluate = [*geo_label_command(), "models", "evaluate", PROJECT_NAME, MODEL, "--json"]
        reference = [sys.executable, "-c", PYCOCOTOOLS, str(truth), str(results)]
        times: dict[str, list[float]] = {"coco": [], "ours": []}
        peaks: list[float] = []
        report: dict[str, Any] = {}
        coco_ap50 = ""
        for _ in range(args.passes):
            run = measured_run(reference, env, logs)
            times["coco"].append(run.seconds)
            coco_ap50 = run.stdout.strip()
            run = measured_run(evaluate, env, logs)
            times["ours"].append(run.seconds)
            peaks.append(run.peak_mb)
            report = json.loads(run.stdout)
    coco, ours = statistics.median(times["coco"]), statistics.median(times["ours"])
    ratios = [o / c for o, c in zip(times["ours"], times["coco"], strict=True)]
    overall = report.get("overall", {})
    print(f"(e1) pycocotools bbox evaluate, accumulate, summarize: {coco:.2f} s (boxes' AP50 {coco_ap50})")
    print(
        f"(e2) geo-label models evaluate: {ours:.2f} s, peak {max(peaks):.0f} MB; "
        f"{overall.get('labels')} objects, {overall.get('predictions')} predictions shown, "
        f"AP50 {overall.get('ap50')}"
    )
    print(
        f"(e2)/(e1) = {ours / coco:.2f} (passes {min(ratios):.2f}..{max(ratios):.2f}; goal <= 1.0: "
        f"{'met' if ours / coco <= 1.0 else 'NOT met'})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("import", "evaluate", "both"), default="both")
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark database (to explain).")
    args = parser.parse_args(argv)
    OUTPUT.mkdir(exist_ok=True)
    if args.part in ("import", "both"):
        part_import(args)
    if args.part in ("evaluate", "both"):
        part_evaluate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
