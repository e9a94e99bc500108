"""Tiling benchmark: how close `geo-label tile` comes to the I/O limit, and how far it beats a naive loop.

Measured on the seeded reference scene (``SceneSpec(width=10980, height=10980, seed=42)``: a Sentinel-2-sized
4-band uint16 UTM scene with realistic texture and sensor noise, DEFLATE, cached under ``bench-output/``),
each case as a whole process (interpreter start and imports included, as a user would run it):

(a)  the limit: one copy of the whole scene with the chips' compression on all cores and no overviews, i.e.
     every pixel read, decoded, encoded and written once, by GDAL alone;
(a2) the same copy with GDAL's block cache capped at 64 MB, as ``geo-label tile`` caps it: a stricter
     limit (the default cache, 5% of RAM, page-faults fresh memory for every block), for reference;
(b)  the naive baseline: one process, a plain rasterio loop over the pipeline's windows, one DEFLATE
     GeoTIFF per chip, no previews, no index;
(c)  ``geo-label tile`` with its defaults (threads, ZSTD; previews and index included);
(c2) the same with ``--processes`` and (c3) with ``--compress deflate``, to justify those defaults.

Machines differ and are noisy, so the figures that matter are ratios to baselines measured in the same run;
the goals are (b)/(c) >= 2.0 and (c)/(a) <= 1.25. Each run takes the cases in turn, (c) right after (a),
and a ratio is the median of the runs' own ratios (a shared host drifts by tens of percent within minutes).
This is a report, not a test: it exits 0 whether or not the goals are met, and non-zero only when a step
itself fails.

Run: ``.venv/bin/python benchmarks/tiling.py [--size N] [--repeat K] [--keep] [--cases a,c]``
(``make bench``).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts benchmarks/ first on sys.path, where `tiling` would be this very file rather
# than the package it measures. Put the repository root there instead (which also makes `benchmarks` a
# package, for the shared helpers).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import numpy as np  # noqa: E402
import rasterio  # noqa: E402

from benchmarks._common import (  # noqa: E402
    OUTPUT,
    REPO,
    StepFailedError,
    Timing,
    core_count,
    ensure_scene,
    reference_spec,
    remove_folder,
    scratch_folder,
    timed_run,
)
from imagery.synthetic import SceneSpec  # noqa: E402
from tiling import INDEX_NAME, ChipWindow, TileParameters, chip_windows  # noqa: E402

FULL_SIZE = 10980
DEFAULTS = TileParameters()
GOAL_NAIVE_OVER_PIPELINE = 2.0
GOAL_PIPELINE_OVER_LIMIT = 1.25
CASE_NAMES = ("a", "a2", "b", "c", "c2", "c3")
#: Other processes busy on more than this many cores during a run make its wall time unreliable.
CONTENTION_WARNING_CORES = 0.25
#: ext4 without a journal (the file system of the machines these figures come from) checks, free inode by
#: free inode, whether it was freed in the last 30 seconds (35 with dirty buffers) and skips it if so: a
#: case creating 1,250 files just after the previous case's 1,250 were deleted spent up to a CPU-second
#: more (kernel profile: recently_deleted, find_get_block_common), for the benchmark's own clean-up, which
#: no user run pays. Outputs are therefore deleted after the last run (a benchmark started right after
#: waits), or all at once when the disk runs short, followed by this pause.
RECENTLY_DELETED_SECONDS = 36
#: When the last run deleted its outputs (a run started right after waits, see wait_out_recent_deletions).
CLEANED_UP = OUTPUT / "tiling-outputs-deleted-at"

#: (a) One GDAL copy of the scene with the chips' creation options; argv: source, target, options and extra
#: GDAL configuration (for (a2)) as JSON.
#: OVERVIEWS=NONE: by default the COG driver also builds overviews of an image larger than one block (the
#: chips, one block each, get none), which costs several times the copy itself and would flatter (c)/(a).
LIMIT_CODE = textwrap.dedent(
    """
    import json, sys
    import rasterio, rasterio.shutil
    source, target, options, env = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS", **env):
        rasterio.shutil.copy(
            source, target, driver="COG", num_threads="ALL_CPUS", overviews="NONE", **options
        )
    """
)

#: (b) The loop anyone would write first; argv: source, output folder; stdin: the windows as JSON
#: [col_off, row_off, width, height] lists (computed by the parent, so this process imports rasterio only).
NAIVE_CODE = textwrap.dedent(
    """
    import json, sys
    import rasterio
    from rasterio.windows import Window, transform
    source, out_dir = sys.argv[1], sys.argv[2]
    with rasterio.open(source) as src:
        for col, row, width, height in json.load(sys.stdin):
            window = Window(col, row, width, height)
            data = src.read(window=window)
            profile = dict(
                driver="GTiff", width=width, height=height, count=src.count, dtype=src.dtypes[0],
                crs=src.crs, transform=transform(window, src.transform),
                compress="deflate", predictor=2, tiled=True, blockxsize=512, blockysize=512,
            )
            with rasterio.open(f"{out_dir}/r{row:07d}_c{col:07d}.tif", "w", **profile) as dst:
                dst.write(data)
    """
)


@dataclass(frozen=True, slots=True)
class Plan:
    """The scene and the chip grid every case works on."""

    scene: Path
    spec: SceneSpec
    windows: list[ChipWindow]

    @property
    def source_bytes(self) -> int:
        return self.spec.width * self.spec.height * self.spec.bands * np.dtype(self.spec.dtype).itemsize

    @property
    def chip_pixel_ratio(self) -> float:
        """Pixels written as chips over pixels in the scene (> 1 because neighbouring chips overlap)."""
        return sum(w.width * w.height for w in self.windows) / (self.spec.width * self.spec.height)


@dataclass(frozen=True, slots=True)
class Case:
    key: str
    slug: str
    what: str
    command: Callable[[Path], list[str]]
    check: Callable[[Path], None]
    counts_chips: bool = True
    stdin: str | None = None
    timings: list[Timing] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median wall time in seconds."""
        return statistics.median(t.seconds for t in self.timings)

    @property
    def cores(self) -> float:
        """Median cores kept busy (CPU time over wall time): how well the case used the machine."""
        return statistics.median(t.cores for t in self.timings)


def geo_label_command() -> list[str]:
    script = Path(sys.executable).parent / "geo-label"
    return [str(script)] if script.exists() else [sys.executable, "-m", "geo_label"]


def expect_file(path: Path) -> None:
    if not path.is_file():
        raise StepFailedError(f"expected output {path} is missing")


def expect_chips(folder: Path, count: int) -> None:
    found = sum(1 for _ in folder.glob("*.tif"))
    if found != count:
        raise StepFailedError(f"{folder} holds {found} chips, expected {count}")


def expect_tiled(out: Path, count: int) -> None:
    expect_chips(out / "chips", count)
    expect_file(out / INDEX_NAME)


def build_cases(plan: Plan) -> list[Case]:
    """The cases in the order each run takes them: (c) right after (a), so their ratio is of neighbours."""
    scene, count = str(plan.scene), len(plan.windows)
    limit_options = json.dumps(DEFAULTS.compression.creation_options())
    small_cache = json.dumps({"GDAL_CACHEMAX": 64 << 20})
    windows = json.dumps([[w.col_off, w.row_off, w.width, w.height] for w in plan.windows])
    tile = [*geo_label_command(), "tile", scene, "--out"]
    return [
        Case(
            "(a)",
            "a-limit",
            f"limit: one COG copy of the scene, {DEFAULTS.compression.value}, all cores",
            lambda out: [sys.executable, "-c", LIMIT_CODE, scene, str(out / "copy.tif"), limit_options, "{}"],
            lambda out: expect_file(out / "copy.tif"),
            counts_chips=False,
        ),
        Case(
            "(c)",
            "c-default",
            "geo-label tile (defaults)",
            lambda out: [*tile, str(out)],
            lambda out: expect_tiled(out, count),
        ),
        Case(
            "(a2)",
            "a2-limit-small-cache",
            "limit with a 64 MB block cache (stricter)",
            lambda out: [
                sys.executable,
                "-c",
                LIMIT_CODE,
                scene,
                str(out / "copy.tif"),
                limit_options,
                small_cache,
            ],
            lambda out: expect_file(out / "copy.tif"),
            counts_chips=False,
        ),
        Case(
            "(b)",
            "b-naive",
            "naive: 1 process, rasterio loop, DEFLATE GTiff",
            lambda out: [sys.executable, "-c", NAIVE_CODE, scene, str(out)],
            lambda out: expect_chips(out, count),
            stdin=windows,
        ),
        Case(
            "(c2)",
            "c2-processes",
            "geo-label tile --processes",
            lambda out: [*tile, str(out), "--processes"],
            lambda out: expect_tiled(out, count),
        ),
        Case(
            "(c3)",
            "c3-deflate",
            "geo-label tile --compress deflate",
            lambda out: [*tile, str(out), "--compress", "deflate"],
            lambda out: expect_tiled(out, count),
        ),
    ]


def first_touch_cost(size: int = 512 << 20) -> tuple[float, float]:
    """Seconds per GB to write memory this process never had, and to write it a second time.

    On a virtual machine whose host reclaims the guest's free memory, a first touch can cost tens of times
    a second one. (a)'s default block cache takes about a gigabyte, so (a) runs up to that many seconds
    longer when the pages it is given are fresh rather than just freed by another process, which depends
    on what ran before it: (c)/(a) swings with it, (c)/(a2) much less. Measured once, after the last run:
    the memory it frees would be recycled pages for whichever case came next.
    """
    memory = np.empty(size, np.uint8)
    started = time.perf_counter()
    memory.fill(1)
    first = time.perf_counter() - started
    started = time.perf_counter()
    memory.fill(2)
    second = time.perf_counter() - started
    del memory
    return first * (1 << 30) / size, second * (1 << 30) / size


def warm_page_cache(path: Path) -> None:
    """Read the scene once so every case starts with it in the page cache, not only the ones after (a)."""
    with path.open("rb") as handle:
        while handle.read(64 << 20):
            pass


class Outputs:
    """The folders of finished runs, deleted together when no more runs follow (see
    :data:`RECENTLY_DELETED_SECONDS`), or earlier when the disk would otherwise fill up."""

    def __init__(self, reserve_bytes: int) -> None:
        self.folders: list[Path] = []
        self.reserve_bytes = reserve_bytes

    def new(self, slug: str) -> Path:
        if self.folders and shutil.disk_usage(OUTPUT).free < self.reserve_bytes:
            print(f"  (disk short: deleting {len(self.folders)} outputs, then {RECENTLY_DELETED_SECONDS} s)")
            self.remove_all()
            time.sleep(RECENTLY_DELETED_SECONDS)
        folder = scratch_folder(slug)
        self.folders.append(folder)
        return folder

    def remove_all(self) -> None:
        if self.folders:
            for folder in self.folders:
                remove_folder(folder)
            self.folders.clear()
            CLEANED_UP.write_text(f"{time.time()}\n")


def wait_out_recent_deletions() -> None:
    """Sleep until the outputs an earlier run deleted are :data:`RECENTLY_DELETED_SECONDS` old."""
    try:
        age = time.time() - float(CLEANED_UP.read_text())
    except (OSError, ValueError):
        return
    if 0 <= age < RECENTLY_DELETED_SECONDS:
        print(
            f"  (waiting {RECENTLY_DELETED_SECONDS - age:.0f} s: an earlier run deleted its outputs just now)"
        )
        time.sleep(RECENTLY_DELETED_SECONDS - age)


def measure(case: Case, outputs: Outputs, *, keep: bool) -> Timing:
    """One timed run of ``case`` in a fresh folder (deleted with the others after the last run unless
    ``keep``)."""
    out = outputs.new(case.slug)
    try:
        timing = timed_run(case.command(out), stdin=case.stdin)
        case.check(out)
    finally:
        # Flush what is left of this run's writes now, not during the next case's measurement.
        os.sync()
    kept = f", kept in {out.relative_to(REPO)}" if keep else ""
    print(
        f"  {case.key:<5} {timing.seconds:8.1f} s  {timing.cores:4.2f} cores busy, "
        f"other processes {timing.other_cores:4.2f}{kept}",
        flush=True,
    )
    return timing


def prepare(size: int) -> Plan:
    spec = reference_spec(size)
    scene = OUTPUT / f"scene-{size}.tif"
    started = time.perf_counter()
    if ensure_scene(spec, scene):
        print(f"wrote {scene.relative_to(REPO)} in {time.perf_counter() - started:.0f} s", flush=True)
    warm_page_cache(scene)
    return Plan(scene, spec, chip_windows(spec.width, spec.height, DEFAULTS.size, DEFAULTS.overlap))


def print_header(plan: Plan, repeat: int) -> None:
    spec = plan.spec
    runs = "1 run per case" if repeat == 1 else f"{repeat} runs per case, median shown"
    print("GeoLabel tiling benchmark")
    print(
        f"  scene    {plan.scene.relative_to(REPO)}: {spec.width} x {spec.height} px, {spec.bands} bands "
        f"{spec.dtype}, {plan.source_bytes / 1e6:.0f} MB of pixels, "
        f"{plan.scene.stat().st_size / 1e6:.0f} MB on disk"
    )
    print(
        f"  chips    {len(plan.windows)} windows of {DEFAULTS.size} px, overlap {DEFAULTS.overlap} "
        f"({plan.chip_pixel_ratio:.2f}x the scene's pixels)"
    )
    print(
        f"  machine  {core_count()} cores, load {os.getloadavg()[0]:.2f}, Python "
        f"{sys.version.split()[0]}, rasterio {rasterio.__version__}, GDAL {rasterio.__gdal_version__}"
    )
    print(f"  runs     {runs}", flush=True)


def print_table(plan: Plan, cases: Sequence[Case]) -> None:
    print(f"\n{'case':<5} {'what':<50} {'seconds':>8} {'chips/s':>8} {'MB/s':>7} {'cores':>6}")
    for case in cases:
        seconds = case.median
        rate = f"{len(plan.windows) / seconds:8.1f}" if case.counts_chips else f"{'-':>8}"
        throughput = plan.source_bytes / 1e6 / seconds
        print(f"{case.key:<5} {case.what:<50} {seconds:8.1f} {rate} {throughput:7.1f} {case.cores:6.2f}")


def print_contention(cases: Sequence[Case]) -> None:
    """Say which runs other processes competed with for the cores: their wall times are inflated."""
    timings = [t for case in cases for t in case.timings]
    disturbed = [t.other_cores for t in timings if t.other_cores > CONTENTION_WARNING_CORES]
    if disturbed:
        print(
            f"\nnote: other processes kept more than {CONTENTION_WARNING_CORES} cores busy during "
            f"{len(disturbed)} of {len(timings)} runs (up to {max(disturbed):.2f}), whose wall times are "
            "inflated; medians of --repeat 3 or more absorb a few, otherwise run again"
        )


def goal(ratio: float, bound: float, *, at_least: bool) -> str:
    met = ratio >= bound if at_least else ratio <= bound
    return f"goal {'>=' if at_least else '<='} {bound:.2f}: {'met' if met else 'not met'}"


def paired_ratio(numerator: Case, denominator: Case) -> tuple[float, float, float]:
    """Median, lowest and highest of the per-run ratios: the two cases of one run ran back to back, so each
    ratio compares them under the same machine conditions (a shared host drifts by tens of percent)."""
    ratios = [n.seconds / d.seconds for n, d in zip(numerator.timings, denominator.timings, strict=True)]
    return statistics.median(ratios), min(ratios), max(ratios)


def print_ratios(cases: Sequence[Case]) -> None:
    """The ratios whose two cases were run (all of them unless --cases chose fewer)."""
    by_key = {case.key: case for case in cases}
    print("\nratios (of wall times; median of the runs' own ratios, lowest..highest)")
    lines = [
        ("(c)", "(a)", "pipeline over the copy limit", GOAL_PIPELINE_OVER_LIMIT, False),
        ("(c)", "(a2)", "pipeline over the stricter limit", None, False),
        ("(b)", "(c)", "naive loop over the pipeline", GOAL_NAIVE_OVER_PIPELINE, True),
        ("(c2)", "(c)", "processes over threads (> 1: threads win)", None, False),
        ("(c3)", "(c)", "deflate over zstd (> 1: zstd wins)", None, False),
    ]
    for top, bottom, what, bound, at_least in lines:
        if top in by_key and bottom in by_key:
            ratio, low, high = paired_ratio(by_key[top], by_key[bottom])
            verdict = f"  {goal(ratio, bound, at_least=at_least)}" if bound is not None else ""
            label = f"{top}/{bottom}"
            print(f"  {label:<9} {ratio:5.2f}  ({low:.2f}..{high:.2f})  {what:<42}{verdict}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=FULL_SIZE, help="scene width and height in pixels")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; medians are reported")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep every case's output under bench-output/ (unless the disk runs short)",
    )
    parser.add_argument(
        "--cases",
        default=",".join(CASE_NAMES),
        help=f"comma-separated cases to run, e.g. a,c for the main ratio (default: {','.join(CASE_NAMES)})",
    )
    args = parser.parse_args(argv)
    args.cases = [name.strip().strip("()") for name in args.cases.split(",") if name.strip()]
    unknown = sorted(set(args.cases) - set(CASE_NAMES))
    if unknown or not args.cases:
        parser.error(f"--cases takes some of {', '.join(CASE_NAMES)}, got {', '.join(unknown) or 'none'}")
    if args.size < DEFAULTS.size:
        parser.error(f"--size must be at least the chip size ({DEFAULTS.size})")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        plan = prepare(args.size)
        print_header(plan, args.repeat)
        wait_out_recent_deletions()
        cases = [case for case in build_cases(plan) if case.key.strip("()") in args.cases]
        # Room for the two largest outputs (the naive loop's chips, about the scene's pixels compressed).
        outputs = Outputs(reserve_bytes=2 * plan.source_bytes)
        try:
            # Round-robin rather than case by case, so a burst of load elsewhere spreads over all cases.
            for run in range(1, args.repeat + 1):
                print(f"run {run}/{args.repeat}", flush=True)
                for case in cases:
                    case.timings.append(measure(case, outputs, keep=args.keep))
            first, second = first_touch_cost()
            print(f"memory     first touch {first:.2f} s/GB, second {second:.2f} s/GB", flush=True)
        finally:
            if not args.keep:
                outputs.remove_all()
    except StepFailedError as exc:
        print(f"benchmark step failed: {exc}", file=sys.stderr)
        return 1
    print_table(plan, cases)
    print_ratios(cases)
    print_contention(cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
