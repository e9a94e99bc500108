"""Dataset benchmark (issue 14): what merging one object across overlapping chips costs an export (a), and
what a training dataset costs against copying its files and exporting its labels (b).

(a) The service benchmark's fixture (one image, a 50 x 50 grid of chips, small rotated rectangles with a mix
of markings) with ``--annotations`` in all, of which ``--overlap-share`` (10 %) lie in overlaps: half of
those are the originals, half are their copies on another chip, moved by about 10 cm, as a second labeler
would draw the same object there. Each pass runs, as whole processes and in turns:

(a1) ``geo-label export --as READER --no-merge``: the baseline, every feature as stored;
(a2) ``geo-label export --as READER`` (merging on, the default): each pair becomes one feature.

Printed: the median wall time of each, (a2)/(a1) (goal: at most 1.3), peak memory and feature counts.

(b) The same fixture with ``--chips`` chips (10,000) and ``--dataset-annotations`` labels (100,000), every
chip a real GeoTIFF file; then, per pass:

(b1) the baseline: ``cp -al`` of the chips' folder plus ``geo-label export --no-merge`` of the same labels;
(b2) ``geo-label dataset export --format stac --format coco --format masks``.

Printed: medians, (b2)/(b1) (goal: at most 2), and (b2)'s peak memory at a tenth of the size and at the
full size (goal: flat).

Usage: ``python benchmarks/datasets.py [--part a|b|both] [--annotations 100000] [--overlap-share 0.1]
[--chips 10000] [--dataset-annotations 100000] [--passes 3]``
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from access_control import default_registry
from benchmarks._common import BENCH_AUDIT_KEY, OUTPUT
from benchmarks._service_data import (
    ANNOTATION_COLUMNS,
    CHIP_GRID,
    CHIP_PX,
    PROJECT_NAME,
    READER,
    REGION,
    Fixture,
    load_fixture,
    set_context,
)
from benchmarks.service import (
    ProcessRun,
    bench_database,
    child_env,
    geo_label_command,
    libpq,
    measured_run,
)
from geo_label.db.context import system_caller
from geo_label.db.engine import Database

SIGNING_KEY = "d" * 48


#: Chips of 512 pixels overlapping by 64, as `geo-label ingest` cuts them: each footprint of the fixture's
#: grid (which only touch) widened by 32 pixels on every side.
OVERLAP_PX = 64


def add_copies(admin: psycopg.Connection[Any], fixture: Fixture, wanted: int) -> int:
    """Make the chips overlap, then copy ``wanted`` of the annotations that lie in an overlap onto the other
    chip there, moved by about 10 cm: the same object labeled on both chips."""
    operator = system_caller(default_registry().sci_controls, frozenset({str(fixture.project_id)}))
    step = (REGION[2] - REGION[0]) / CHIP_GRID
    widen = step * (OVERLAP_PX / 2) / CHIP_PX
    columns = ANNOTATION_COLUMNS.replace("chip_id, ", "").replace("geometry, ", "")
    prefixed = ", ".join(f"a.{name.strip()}" for name in columns.split(","))
    neighbour = (
        "(SELECT c.id FROM chips c WHERE c.image_id = a.image_id AND c.id <> a.chip_id "
        "AND c.footprint && a.geometry AND ST_Intersects(c.footprint, a.geometry) LIMIT 1)"
    )
    admin.execute("ALTER TABLE annotations DISABLE TRIGGER annotations_history")
    try:
        with admin.transaction():
            set_context(admin, operator)
            admin.execute("UPDATE chips SET footprint = ST_Expand(footprint, %s)", (widen,))
            row = admin.execute(
                f"SELECT count(*) FROM annotations a WHERE {neighbour} IS NOT NULL"
            ).fetchone()
            in_overlaps = int(row[0]) if row else 0
            per_mille = min(1000, round(1000 * wanted / max(1, in_overlaps)))
            done = admin.execute(
                f"INSERT INTO annotations (chip_id, geometry, {columns}) "
                f"SELECT n.id, ST_Translate(a.geometry, 0.000001, 0.000001), {prefixed} FROM annotations a "
                f"JOIN LATERAL {neighbour} n(id) ON true "
                "WHERE abs(hashtext(a.id::text)) %% 1000 < %s",
                (per_mille,),
            )
            copies = done.rowcount
    finally:
        admin.execute("ALTER TABLE annotations ENABLE TRIGGER annotations_history")
    admin.execute("VACUUM (ANALYZE) annotations")
    admin.execute("VACUUM (ANALYZE) chips")
    print(f"fixture: {in_overlaps} annotations lie in chip overlaps ({OVERLAP_PX} px)")
    return copies


def export_once(env: dict[str, str], scratch: Path, merge: bool) -> tuple[ProcessRun, int]:
    out = scratch / ("merged.geojson" if merge else "plain.geojson")
    command = [*geo_label_command(), "export", "--project", PROJECT_NAME, "--as", READER, "-o", str(out)]
    if not merge:
        command.append("--no-merge")
    run = measured_run(command, env, scratch / "logs")
    match = re.search(r"exported (\d+) features", run.stdout)
    if match is None:
        raise SystemExit(f"export failed: {run.stdout[-300:]}")
    out.unlink(missing_ok=True)
    return run, int(match.group(1))


def part_a(args: argparse.Namespace) -> None:
    originals = int(args.annotations * (1 - args.overlap_share / 2))
    with bench_database(keep=args.keep) as bench, tempfile.TemporaryDirectory(dir=OUTPUT) as work:
        scratch = Path(work)
        database = Database.connect(bench.owner_url, audit_key=BENCH_AUDIT_KEY)
        try:
            with psycopg.connect(libpq(bench.owner_url), autocommit=True) as admin:
                fixture, seconds = load_fixture(database, admin, default_registry(), originals)
                copies = add_copies(admin, fixture, args.annotations - originals)
        finally:
            database.dispose()
        print(f"fixture: {originals} annotations and {copies} copies on other chips ({seconds:.1f} s)")
        env = child_env(bench, scratch / "data", SIGNING_KEY)
        times: dict[bool, list[float]] = {False: [], True: []}
        peaks: dict[bool, list[float]] = {False: [], True: []}
        counts: dict[bool, int] = {}
        export_once(env, scratch, merge=True)  # warm the server's caches once
        for _ in range(args.passes):
            for merge in (False, True):
                run, count = export_once(env, scratch, merge)
                times[merge].append(run.seconds)
                peaks[merge].append(run.peak_mb)
                counts[merge] = count
    plain, merged = statistics.median(times[False]), statistics.median(times[True])
    for key, merge, what in (("(a1)", False, "export --no-merge"), ("(a2)", True, "export (merging)")):
        median = statistics.median(times[merge])
        print(f"{key} {what}: {median:.2f} s, {counts[merge]} features, peak {max(peaks[merge]):.0f} MB")
    ratios = [m / p for m, p in zip(times[True], times[False], strict=True)]
    print(
        f"(a2)/(a1) = {merged / plain:.2f} (passes {min(ratios):.2f}..{max(ratios):.2f}; goal <= 1.3: "
        f"{'met' if merged / plain <= 1.3 else 'NOT met'}); "
        f"merged away {counts[False] - counts[True]} features"
    )


def write_chip_files(admin: psycopg.Connection[Any], fixture: Fixture, folder: Path) -> None:
    """Give every chip of the fixture a real file: a 512 px, 4-band uint16 tiled GeoTIFF (smooth pixels, so
    a few kB each), copied once per chip; the dataset hard-links them, so their pixels do not matter."""
    import rasterio

    folder.mkdir(parents=True)
    template = folder / "template.tif"
    ramp = np.add.outer(np.arange(CHIP_PX), np.arange(CHIP_PX)).astype(np.uint16)
    profile = {
        "driver": "GTiff", "width": CHIP_PX, "height": CHIP_PX, "count": 4, "dtype": "uint16",
        "crs": "EPSG:4326", "transform": rasterio.transform.from_origin(44.0, 35.0, 1e-5, 1e-5),
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "zstd",
    }  # fmt: skip
    with rasterio.open(template, "w", **profile) as out:
        out.write(np.stack([ramp] * 4))
    for chip_id in fixture.chip_ids:
        shutil.copyfile(template, folder / f"{chip_id}.tif")
    template.unlink()
    operator = system_caller(default_registry().sci_controls, frozenset({str(fixture.project_id)}))
    with admin.transaction():
        set_context(admin, operator)
        admin.execute(
            "UPDATE chips SET path = %s || '/' || id || '.tif', preview_path = %s || '/' || id || '.jpg'",
            (str(folder), str(folder)),
        )


def dataset_once(env: dict[str, str], scratch: Path) -> tuple[ProcessRun, int]:
    out = scratch / "dataset"
    command = [
        *geo_label_command(), "dataset", "export", "--project", PROJECT_NAME, "--as", READER,
        "--format", "stac", "--format", "coco", "--format", "masks", "-o", str(out),
    ]  # fmt: skip
    run = measured_run(command, env, scratch / "logs")
    if "wrote" not in run.stdout:
        raise SystemExit(f"dataset export failed: {run.stdout[-300:]}")
    entries = sum(len(files) for _, _, files in os.walk(out))
    shutil.rmtree(out)
    return run, entries


def creation_floor(scratch: Path, entries: int) -> float:
    """Seconds to create ``entries`` empty files (the least a dataset of that many files costs here)."""
    folder = scratch / "floor"
    folder.mkdir()
    started = time.perf_counter()
    for index in range(entries):
        os.close(os.open(folder / f"{index:08d}", os.O_CREAT | os.O_WRONLY, 0o600))
    seconds = time.perf_counter() - started
    shutil.rmtree(folder)
    return seconds


def baseline_once(env: dict[str, str], scratch: Path, chips: Path) -> ProcessRun:
    copy = measured_run(["cp", "-al", str(chips), str(scratch / "linked")], env, scratch / "logs")
    export, _ = export_once(env, scratch, merge=False)
    shutil.rmtree(scratch / "linked")
    return ProcessRun(copy.seconds + export.seconds, max(copy.peak_mb, export.peak_mb), export.stdout)


def part_b_size(args: argparse.Namespace, chips: int, annotations: int) -> tuple[float, float, float]:
    """(b1) and (b2) medians and (b2)'s peak memory at one size."""
    with bench_database(keep=args.keep) as bench, tempfile.TemporaryDirectory(dir=OUTPUT) as work:
        scratch = Path(work)
        database = Database.connect(bench.owner_url, audit_key=BENCH_AUDIT_KEY)
        try:
            with psycopg.connect(libpq(bench.owner_url), autocommit=True) as admin:
                fixture, seconds = load_fixture(database, admin, default_registry(), annotations, chips=chips)
                write_chip_files(admin, fixture, scratch / "chips")
        finally:
            database.dispose()
        print(f"fixture: {chips} chips with files, {annotations} labels ({seconds:.1f} s)")
        env = child_env(bench, scratch / "data", SIGNING_KEY)
        baseline_once(env, scratch, scratch / "chips")  # warm the caches once
        base, built, peaks, floors = [], [], [], []
        entries = 0
        for _ in range(args.passes):
            base.append(baseline_once(env, scratch, scratch / "chips").seconds)
            run, entries = dataset_once(env, scratch)
            built.append(run.seconds)
            peaks.append(run.peak_mb)
            floors.append(creation_floor(scratch, entries))
        said = run.stdout.strip()
    print(f"  {said}")
    b1, b2, floor = statistics.median(base), statistics.median(built), statistics.median(floors)
    print(
        f"  (b1) cp -al + export --no-merge: {b1:.2f} s; (b2) dataset export stac+coco+masks: {b2:.2f} s, "
        f"peak {max(peaks):.0f} MB; (b2)/(b1) = {b2 / b1:.2f}; creating its {entries} files empty alone "
        f"takes {floor:.2f} s here ({floor / b1:.2f}x (b1))"
    )
    return b1, b2, max(peaks)


def part_b(args: argparse.Namespace) -> None:
    small = part_b_size(args, max(1, args.chips // 10), max(1, args.dataset_annotations // 10))
    full = part_b_size(args, args.chips, args.dataset_annotations)
    ratio = full[1] / full[0]
    print(
        f"(b2)/(b1) at {args.chips} chips = {ratio:.2f} (goal <= 2: {'met' if ratio <= 2 else 'NOT met'}); "
        f"peak memory {small[2]:.0f} MB at a tenth of the size, {full[2]:.0f} MB at the full size "
        f"({full[2] / small[2]:.2f}x for 10x the data)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("a", "b", "both"), default="both")
    parser.add_argument("--annotations", type=int, default=100_000)
    parser.add_argument("--overlap-share", type=float, default=0.1)
    parser.add_argument("--chips", type=int, default=10_000)
    parser.add_argument("--dataset-annotations", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark database (to explain).")
    args = parser.parse_args(argv)
    OUTPUT.mkdir(exist_ok=True)
    if args.part in ("a", "both"):
        part_a(args)
    if args.part in ("b", "both"):
        part_b(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
