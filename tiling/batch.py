"""One Dask task: a run of neighbouring chips written with one open handle on the source.

Opening the source once per batch instead of once per chip saves the header parse. The source pixels come
through a :class:`~tiling.cells.CellCache`: shared by every task of a run on the local threaded scheduler
(each source block decoded once), or one per task elsewhere (each block decoded once per task).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import rasterio

from imagery import Georeferencing, open_raster, reading
from tiling.atomic import atomic_path, make_durable
from tiling.cells import CellCache
from tiling.chip import ChipSource, ChipWriter, LayoutCache, process_chip
from tiling.job import CHIPS_DIR, PREVIEWS_DIR, STATE_DIR, TileJob
from tiling.records import BatchResult, ChipRecord
from tiling.windows import ChipWindow

#: Chips per task at most, in whole chip rows where rows are shorter.
MAX_BATCH_CHIPS = 96
#: Rows are packed into one task until it holds at least this many chips. Small tasks balance the workers
#: at the end of a run (the last task finishes on one core while the others idle); with a shared cell cache
#: they cost no extra decoding. Below about 20 chips the per-task overhead starts to show.
MIN_BATCH_CHIPS = 24


def make_batches(windows: list[ChipWindow]) -> list[tuple[ChipWindow, ...]]:
    """Pack row-major windows into tasks of whole chip rows (splitting rows longer than a task).

    Depends only on the grid, not on the number of workers, so a resumed run with other worker settings finds
    the same batches done.
    """
    rows: dict[int, list[ChipWindow]] = {}
    for window in windows:
        rows.setdefault(window.row_off, []).append(window)
    batches: list[tuple[ChipWindow, ...]] = []
    current: list[ChipWindow] = []
    for row in rows.values():
        if current and (len(current) + len(row) > MAX_BATCH_CHIPS or len(current) >= MIN_BATCH_CHIPS):
            batches.append(tuple(current))
            current = []
        for start in range(0, len(row), MAX_BATCH_CHIPS):
            part = row[start : start + MAX_BATCH_CHIPS]
            if len(part) == MAX_BATCH_CHIPS:
                batches.append(tuple(part))
            else:
                current.extend(part)
    if current:
        batches.append(tuple(current))
    return batches


def batch_name(batch: tuple[ChipWindow, ...]) -> str:
    return f"{batch[0].key}.json"


def run_batch(
    job: TileJob,
    batch: tuple[ChipWindow, ...],
    cells: CellCache | None = None,
    layouts: LayoutCache | None = None,
) -> BatchResult:
    """Write every chip of ``batch`` that is not on disk yet, put them on disk, then record the batch as
    done (and put the record on disk): a batch recorded as done has every chip whole on disk, even after a
    power loss (tiling.atomic.make_durable).

    ``cells`` and ``layouts`` are the run's shared cell and chip layout caches (threads of one process);
    without them the task has its own.
    """
    records: list[ChipRecord] = []
    newly_written = by_gdal = 0
    # One rasterio environment for the task: otherwise every rasterio call sets one up and tears it down.
    with (
        rasterio.Env(),
        open_raster(job.source) as raster,
        reading(raster.path),
    ):
        plain = raster.georeferencing is Georeferencing.GEOTRANSFORM
        source = ChipSource.open(raster.dataset, (cells or CellCache(batch)) if plain else None)
        with ChipWriter(raster.dataset, job, layouts) as writer:
            for window in batch:
                record, wrote, gdal_wrote = process_chip(source, writer, job, window)
                records.append(record)
                newly_written += wrote
                by_gdal += gdal_wrote
    out = str(job.out_dir)
    make_durable(writer.written, [f"{out}/{CHIPS_DIR}", f"{out}/{PREVIEWS_DIR}"] if writer.written else [])
    done_file = job.out_dir / STATE_DIR / "batches" / batch_name(batch)
    with atomic_path(done_file) as temp:
        temp.write_bytes(orjson.dumps([r.to_dict() for r in records]))
    make_durable([str(done_file)], [str(done_file.parent)])
    return BatchResult(records=tuple(records), newly_written=newly_written, by_gdal=by_gdal)


def prefetch_cells(source: Path, batch: tuple[ChipWindow, ...], cells: CellCache) -> None:
    """Decode into ``cells`` the source pixels of ``batch`` (those run_batch would take from the cache)."""
    with rasterio.Env(), open_raster(source) as raster, reading(raster.path):
        if raster.georeferencing is Georeferencing.GEOTRANSFORM:
            chips = ChipSource.open(raster.dataset, cells)
            if chips.cells is not None:
                chips.cells.prefetch(raster.dataset, [w for w in batch if chips.inside(w)])


def load_done_batch(out_dir: Path, batch: tuple[ChipWindow, ...]) -> BatchResult | None:
    """The records of a batch an earlier run finished in ``out_dir``, or None."""
    done_file = out_dir / STATE_DIR / "batches" / batch_name(batch)
    try:
        rows = orjson.loads(done_file.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    records = tuple(ChipRecord.from_dict(row) for row in rows)
    if len(records) != len(batch):
        return None
    return BatchResult(records=records, newly_written=0)
