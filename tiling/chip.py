"""Read one chip window and write it as a Cloud Optimized GeoTIFF plus an 8-bit JPEG preview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from PIL import Image
from rasterio.windows import Window

from imagery import valid_mask
from tiling.atomic import atomic_path
from tiling.job import TileJob
from tiling.records import ChipRecord
from tiling.windows import ChipWindow

PREVIEW_QUALITY = 90
VALID_FRACTION_TAG = "GEO_LABEL_VALID_FRACTION"


def read_window(dataset: Any, window: ChipWindow) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of the window (padded with nodata past the image edge) and the valid-pixel mask."""
    rio_window = Window(window.col_off, window.row_off, window.width, window.height)
    inside = (
        window.col_off + window.width <= dataset.width and window.row_off + window.height <= dataset.height
    )
    if inside:
        data = np.asarray(dataset.read(window=rio_window))
    else:
        fill = dataset.nodata if dataset.nodata is not None else 0
        data = np.asarray(dataset.read(window=rio_window, boundless=True, fill_value=fill))
    valid = valid_mask(data, dataset.nodata)
    if dataset.nodata is None and not all(flag.name == "all_valid" for flag in dataset.mask_flag_enums[0]):
        valid &= np.asarray(dataset.dataset_mask(window=rio_window, boundless=not inside)) > 0
    if not inside:
        valid[window.height - max(0, window.row_off + window.height - dataset.height) :, :] = False
        valid[:, window.width - max(0, window.col_off + window.width - dataset.width) :] = False
    return data, valid


def chip_transform(dataset: Any, window: ChipWindow) -> Affine:
    """Maps chip pixel (r, c) exactly onto source pixel (row_off + r, col_off + c)."""
    transform: Affine = dataset.transform @ Affine.translation(window.col_off, window.row_off)
    return transform


def in_memory(width: int, height: int, count: int, dtype: str, **profile: Any) -> Any:
    """A MEM dataset to copy from. GDAL's CreateCopy from MEM releases the GIL in rasterio, whereas writing a
    COG or JPEG directly (a copy-on-close driver) holds it: 1.84x vs 0.93x on 2 threads, measured."""
    return rasterio.MemoryFile().open(
        driver="MEM", width=width, height=height, count=count, dtype=dtype, **profile
    )


def write_chip(
    dataset: Any,
    job: TileJob,
    window: ChipWindow,
    data: np.ndarray,
    valid: np.ndarray,
    valid_fraction: float,
    chip_id: str,
) -> None:
    final = job.out_dir / job.chip_path(window)
    tags = {
        "GEO_LABEL_CHIP_ID": chip_id,
        "GEO_LABEL_IMAGE_SHA256": job.image_sha256,
        "GEO_LABEL_SOURCE_WINDOW": f"{window.row_off},{window.col_off},{window.height},{window.width}",
        VALID_FRACTION_TAG: repr(valid_fraction),
        **({"GEO_LABEL_MARKING": job.marking} if job.marking else {}),
    }
    with in_memory(
        window.width,
        window.height,
        dataset.count,
        dataset.dtypes[0],
        crs=dataset.crs,
        transform=chip_transform(dataset, window),
        nodata=dataset.nodata,
    ) as mem:
        mem.write(data)
        if dataset.nodata is None and not bool(valid.all()):
            mem.write_mask(valid)
        mem.update_tags(**tags)
        for band, description in enumerate(dataset.descriptions, start=1):
            if description:
                mem.set_band_description(band, description)
        with atomic_path(final) as temp:
            rasterio.shutil.copy(mem, temp, **job.params.compression.chip_options(job.params.size))


def write_preview(job: TileJob, window: ChipWindow, data: np.ndarray, valid: np.ndarray) -> None:
    """The chip as an 8-bit JPEG with the image's stretch (nodata black). Pillow's libjpeg-turbo encodes a
    512 x 512 preview in about 0.7 ms, ten times faster than GDAL's JPEG driver here (measured)."""
    stretch = job.stretch
    pixels = stretch.apply(data[[b - 1 for b in stretch.bands]])
    pixels[:, ~valid] = 0
    image = Image.fromarray(
        pixels[0] if pixels.shape[0] == 1 else np.ascontiguousarray(pixels.transpose(1, 2, 0))
    )
    with atomic_path(job.out_dir / job.preview_path(window)) as temp:
        image.save(temp, format="JPEG", quality=PREVIEW_QUALITY)


def recorded_valid_fraction(path: Path) -> float | None:
    """The valid fraction stored in a chip written by an earlier run, or None if it cannot be trusted."""
    try:
        with rasterio.open(path) as chip:
            value = chip.tags().get(VALID_FRACTION_TAG)
    except rasterio.errors.RasterioIOError:
        return None
    return float(value) if value is not None else None


def process_chip(dataset: Any, job: TileJob, window: ChipWindow) -> tuple[ChipRecord, bool]:
    """Write (or find already written) one chip; returns its record and whether this call wrote it."""
    chip_id = job.chip_id(window)
    chip_file, preview_file = job.out_dir / job.chip_path(window), job.out_dir / job.preview_path(window)
    if chip_file.exists() and preview_file.exists():
        fraction = recorded_valid_fraction(chip_file)
        if fraction is not None:
            return make_record(job, window, chip_id, fraction, written=True), False
    data, valid = read_window(dataset, window)
    fraction = float(valid.sum()) / valid.size
    keep = fraction > 0.0 and fraction >= job.params.min_valid
    if not keep:
        return make_record(job, window, chip_id, fraction, written=False), False
    write_chip(dataset, job, window, data, valid, fraction, chip_id)
    write_preview(job, window, data, valid)
    return make_record(job, window, chip_id, fraction, written=True), True


def make_record(
    job: TileJob, window: ChipWindow, chip_id: str, fraction: float, *, written: bool
) -> ChipRecord:
    return ChipRecord(
        chip_id=chip_id,
        row_off=window.row_off,
        col_off=window.col_off,
        width=window.width,
        height=window.height,
        valid_fraction=fraction,
        written=written,
        path=job.chip_path(window) if written else None,
        preview_path=job.preview_path(window) if written else None,
    )
