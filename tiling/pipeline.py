"""Tile an image into chips: plan the windows, skip what is done, run the rest on Dask, write the index."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import rasterio

from imagery import DisplayStretch, ImageInfo, image_stretch, inspect_image
from tiling.atomic import is_regular_file, remove_stale_temporaries
from tiling.batch import load_done_batch, make_batches, prefetch_cells, run_batch
from tiling.cells import CellCache
from tiling.chip import LayoutCache
from tiling.index import INDEX_NAME, chip_footprints, write_index
from tiling.job import CHIPS_DIR, PREVIEWS_DIR, TileJob, TileParameters
from tiling.libraries import import_arrow
from tiling.records import BatchResult, ChipRecord
from tiling.scheduler import LocalMode, SchedulerChoice, run_tasks
from tiling.state import (
    check_same_job,
    exclusive_run,
    file_sha256,
    read_manifest,
    recorded_fingerprint,
    source_stamp,
    write_manifest,
)
from tiling.windows import chip_windows

MANIFEST_VERSION = 1
#: GDAL's block cache while chips are read through a shared cell cache: a few cells' worth: decoding costs
#: less CPU with it than with GDAL's default, which only fills fresh memory (figures: benchmarks/README.md).
CELL_RUN_CACHE_BYTES = 64 << 20


log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TileSummary:
    out_dir: Path
    index_path: Path
    chips_total: int
    chips_written: int
    chips_reused: int
    chips_skipped: int
    seconds: float
    source_bytes: int
    already_complete: bool
    #: Chips GDAL wrote this run, not the fast writer (masked, DEFLATE, or a layout it cannot vouch for).
    chips_by_gdal: int = 0

    @property
    def megabytes_per_second(self) -> float:
        return self.source_bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        if self.already_complete:
            return f"already complete: {self.chips_total} chips in {self.index_path} (nothing to do)"
        reused = f", {self.chips_reused} already on disk" if self.chips_reused else ""
        writers = f" ({self.chips_by_gdal} by GDAL)" if self.chips_by_gdal else ""
        return (
            f"{self.chips_written} chips written{writers}{reused}, {self.chips_skipped} skipped "
            "(below --min-valid), "
            f"{self.seconds:.1f} s, {self.megabytes_per_second:.0f} MB/s of source pixels "
            f"-> {self.index_path}"
        )


ProgressCallback = Callable[[int], None]


def submit_stretch(pool: ThreadPoolExecutor, source: Path, info: ImageInfo) -> Future[DisplayStretch]:
    """The display stretch: ``info``'s, else computed in ``pool``."""
    if info.stretch is None:
        return pool.submit(image_stretch, source)
    ready: Future[DisplayStretch] = Future()
    ready.set_result(info.stretch)
    return ready


def tile_image(
    source: str | Path,
    out_dir: str | Path,
    params: TileParameters | None = None,
    *,
    scheduler: SchedulerChoice | None = None,
    marking: str | None = None,
    info: ImageInfo | None = None,
    image_sha256: str | None = None,
    on_start: Callable[[int], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> TileSummary:
    """Cut ``source`` into chips under ``out_dir``; resumable, idempotent, safe to kill at any point.

    ``marking`` (banner form) is written into every chip's tags and the index. ``image_sha256``, when the
    caller has already hashed the file, spares a second full read of it (so does a manifest that records
    the hash for this very file: same size and modification time).
    ``on_start(total_chips)`` and ``on_progress(chips_done)`` drive a progress display.
    """
    started = time.perf_counter()
    params = params or TileParameters()
    scheduler = scheduler or SchedulerChoice()
    source_path = Path(source).resolve()
    out = Path(out_dir).resolve()
    info = info or inspect_image(source_path, statistics=False)
    windows = chip_windows(info.width, info.height, params.size, params.overlap)
    out.mkdir(parents=True, exist_ok=True)  # the process umask decides: 0700, or 0750 for a service group
    with (
        exclusive_run(out),
        ThreadPoolExecutor(2, thread_name_prefix="tile-prepare") as pool,
        ExitStack() as run_env,
    ):
        manifest = read_manifest(out)
        stretch_future = None
        sha = image_sha256 or recorded_fingerprint(source_path, manifest)
        if sha is None:
            # Hash the file (GIL released) and compute the stretch side by side;
            # only a folder already complete for this very file makes the stretch wasted.
            hashing = pool.submit(file_sha256, source_path)
            stretch_future = submit_stretch(pool, source_path, info)
            sha = hashing.result()
        expected = {
            "version": MANIFEST_VERSION,
            "image_sha256": sha,
            "params": params.to_dict(),
            "marking": marking,
            "source_stamp": source_stamp(source_path),
        }
        check_same_job(out, manifest, expected)
        if manifest and manifest.get("complete") and is_regular_file(str(out / INDEX_NAME)):
            counts = manifest["counts"]
            return TileSummary(
                out,
                out / INDEX_NAME,
                len(windows),
                0,
                counts["written"],
                counts["skipped"],
                time.perf_counter() - started,
                0,
                already_complete=True,
            )
        write_manifest(out, {**expected, "complete": False})
        for folder in (CHIPS_DIR, PREVIEWS_DIR):
            (out / folder).mkdir(exist_ok=True)
            remove_stale_temporaries(out / folder)
        remove_stale_temporaries(out / ".geo-label" / "batches")

        if stretch_future is None:
            stretch_future = submit_stretch(pool, source_path, info)
        batches = make_batches(windows)
        done: list[BatchResult] = []
        todo = []
        for batch in batches:
            finished = load_done_batch(out, batch)
            if finished is None:
                todo.append(batch)
            else:
                done.append(finished)
        task: Callable[..., BatchResult] = run_batch
        if todo and scheduler.address is None and scheduler.local_mode is LocalMode.THREADS:
            cells = CellCache(window for batch in todo for window in batch)
            task = partial(run_batch, cells=cells, layouts=LayoutCache())
            # Every block is decoded once into a cell, so GDAL's block cache (5% of RAM by default, global)
            # only costs: filling it allocates and page-faults fresh memory for every block of the image.
            run_env.enter_context(rasterio.Env(GDAL_CACHEMAX=CELL_RUN_CACHE_BYTES))
            # Decode the first task's source pixels while the stretch is computed (both mostly without the
            # GIL): the tasks start the moment the stretch is known, their first cells decoded or being
            # decoded (each once: tiling.cells).
            if not stretch_future.done():
                pool.submit(prefetch_cells, source_path, todo[0], cells)
        # Before any task or the index's thread needs it (see tiling.libraries), while the stretch may still
        # be being computed.
        import_arrow()
        job = TileJob(source_path, out, sha, params, stretch_future.result(), marking)
        if on_start:
            on_start(len(windows))
        if on_progress:
            on_progress(sum(len(b.records) for b in done))

        def advance(result: BatchResult) -> None:
            if on_progress:
                on_progress(len(result.records))

        # The chips' footprints are computed (and the index's libraries loaded) while the chips are written.
        footprints = pool.submit(chip_footprints, info.transform, info.crs_wkt, windows)
        done.extend(run_tasks(task, todo, job, choice=scheduler, on_done=advance))
        records: list[ChipRecord] = [r for result in done for r in result.records]
        index_path = write_index(
            out,
            records,
            transform=info.transform,
            crs_wkt=info.crs_wkt,
            image_sha256=sha,
            marking=marking,
            footprints=footprints.result(),
        )
        written_now = sum(result.newly_written for result in done)
        by_gdal = sum(result.by_gdal for result in done)
        if by_gdal:
            log.info(
                "GDAL wrote %d of the %d chips written (the fast writer cannot vouch for them)",
                by_gdal,
                written_now,
            )
        kept = sum(r.written for r in records)
        skipped = len(records) - kept
        write_manifest(out, {**expected, "complete": True, "counts": {"written": kept, "skipped": skipped}})
    return TileSummary(
        out_dir=out,
        index_path=index_path,
        chips_total=len(windows),
        chips_written=written_now,
        chips_reused=kept - written_now,
        chips_skipped=skipped,
        seconds=time.perf_counter() - started,
        source_bytes=info.source_bytes,
        already_complete=False,
        chips_by_gdal=by_gdal,
    )
