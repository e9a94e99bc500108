"""Tile an image into chips: plan the windows, skip what is done, run the rest on Dask, write the index."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imagery import DisplayStretch, ImageInfo, compute_stretch, inspect_image, open_raster, reading
from tiling.atomic import remove_stale_temporaries
from tiling.batch import load_done_batch, make_batches, run_batch
from tiling.index import INDEX_NAME, write_index
from tiling.job import CHIPS_DIR, PREVIEWS_DIR, TileJob, TileParameters
from tiling.records import BatchResult, ChipRecord
from tiling.scheduler import SchedulerChoice, run_tasks
from tiling.state import (
    check_same_job,
    exclusive_run,
    image_fingerprint,
    read_manifest,
    source_stamp,
    write_manifest,
)
from tiling.windows import chip_windows

MANIFEST_VERSION = 1


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

    @property
    def megabytes_per_second(self) -> float:
        return self.source_bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        if self.already_complete:
            return f"already complete: {self.chips_total} chips in {self.index_path} (nothing to do)"
        reused = f", {self.chips_reused} already on disk" if self.chips_reused else ""
        return (
            f"{self.chips_written} chips written{reused}, {self.chips_skipped} skipped (below --min-valid), "
            f"{self.seconds:.1f} s, {self.megabytes_per_second:.0f} MB/s of source pixels "
            f"-> {self.index_path}"
        )


ProgressCallback = Callable[[int], None]


def image_stretch(source: Path) -> DisplayStretch:
    with open_raster(source) as raster, reading(raster.path):
        return compute_stretch(raster.dataset)


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
    caller has already hashed the file, spares a second full read of it. ``on_start(total_chips)`` and
    ``on_progress(chips_done)`` drive a progress display.
    """
    started = time.perf_counter()
    params = params or TileParameters()
    scheduler = scheduler or SchedulerChoice()
    source_path = Path(source).resolve()
    out = Path(out_dir).resolve()
    info = info or inspect_image(source_path, statistics=False)
    windows = chip_windows(info.width, info.height, params.size, params.overlap)
    out.mkdir(parents=True, exist_ok=True)
    with exclusive_run(out):
        manifest = read_manifest(out)
        sha = image_sha256 or image_fingerprint(source_path, manifest)
        expected = {
            "version": MANIFEST_VERSION,
            "image_sha256": sha,
            "params": params.to_dict(),
            "marking": marking,
            "source_stamp": source_stamp(source_path),
        }
        check_same_job(out, manifest, expected)
        if manifest and manifest.get("complete") and (out / INDEX_NAME).exists():
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

        job = TileJob(source_path, out, sha, params, info.stretch or image_stretch(source_path), marking)
        batches = make_batches(windows)
        done: list[BatchResult] = []
        todo = []
        for batch in batches:
            finished = load_done_batch(job, batch)
            if finished is None:
                todo.append(batch)
            else:
                done.append(finished)
        if on_start:
            on_start(len(windows))
        if on_progress:
            on_progress(sum(len(b.records) for b in done))

        def advance(result: BatchResult) -> None:
            if on_progress:
                on_progress(len(result.records))

        done.extend(run_tasks(run_batch, todo, job, choice=scheduler, on_done=advance))
        records: list[ChipRecord] = [r for result in done for r in result.records]
        index_path = write_index(
            out, records, transform=info.transform, crs_wkt=info.crs_wkt, image_sha256=sha, marking=marking
        )
        written_now = sum(result.newly_written for result in done)
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
    )
