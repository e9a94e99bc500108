"""One Dask task: a run of neighbouring chips written with one open handle on the source.

Opening the source once per batch instead of once per chip saves the header parse and keeps the chips'
shared source blocks hot in GDAL's block cache (neighbouring chips overlap).
"""

from __future__ import annotations

import orjson

from imagery import open_raster, reading
from tiling.atomic import atomic_path
from tiling.chip import process_chip
from tiling.job import STATE_DIR, TileJob
from tiling.records import BatchResult, ChipRecord
from tiling.windows import ChipWindow

#: Chips per task, in whole chip rows where rows are shorter. Consecutive chip rows share source tile rows
#: (chips overlap and rarely align with the source's tiles), and one open handle decodes each shared tile
#: once; with one row per task every tile row was decoded twice.
MAX_BATCH_CHIPS = 96


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
        if current and len(current) + len(row) > MAX_BATCH_CHIPS:
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


def run_batch(job: TileJob, batch: tuple[ChipWindow, ...]) -> BatchResult:
    """Write every chip of ``batch`` that is not on disk yet, then record the batch as done."""
    records: list[ChipRecord] = []
    newly_written = 0
    with open_raster(job.source) as raster, reading(raster.path):
        for window in batch:
            record, wrote = process_chip(raster.dataset, job, window)
            records.append(record)
            newly_written += wrote
    done_file = job.out_dir / STATE_DIR / "batches" / batch_name(batch)
    with atomic_path(done_file) as temp:
        temp.write_bytes(orjson.dumps([r.to_dict() for r in records]))
    return BatchResult(records=tuple(records), newly_written=newly_written)


def load_done_batch(job: TileJob, batch: tuple[ChipWindow, ...]) -> BatchResult | None:
    """The records of a batch an earlier run finished, or None."""
    done_file = job.out_dir / STATE_DIR / "batches" / batch_name(batch)
    try:
        rows = orjson.loads(done_file.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    records = tuple(ChipRecord.from_dict(row) for row in rows)
    if len(records) != len(batch):
        return None
    return BatchResult(records=records, newly_written=0)
