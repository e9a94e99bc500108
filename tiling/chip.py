"""Read one chip window and write it as a Cloud Optimized GeoTIFF plus an 8-bit JPEG preview."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
import simplejpeg
from affine import Affine
from rasterio.windows import Window

from imagery import DisplayStretch, valid_mask
from tiling.atomic import atomic_name, is_regular_file, write_atomically
from tiling.cells import CellCache
from tiling.chip_tiff import ChipTiffLayout, ChipTiffWriter, placeholder
from tiling.job import Compression, TileJob
from tiling.records import ChipRecord
from tiling.windows import ChipWindow

PREVIEW_QUALITY = 90
VALID_FRACTION_TAG = "GEO_LABEL_VALID_FRACTION"
#: Integer types whose previews are stretched through a lookup table (one entry per possible value).
LOOKUP_DTYPES: dict[str, type[np.unsignedinteger[Any]]] = {
    "uint8": np.uint8,
    "int8": np.uint8,
    "uint16": np.uint16,
    "int16": np.uint16,
}


@dataclass(frozen=True, slots=True)
class ChipSource:
    """The source as one task reads it: the open dataset, what every chip shares, and the cell cache.

    ``cells`` is None where chips must be read from the dataset one by one: a warped view (a GCP or RPC
    image resampled on the fly, whose pixels could depend on the window asked for).
    """

    dataset: Any
    cells: CellCache | None
    count: int
    dtype: str
    nodata: float | None
    all_valid: bool
    #: The array the chips of this task are copied into, one after the other (each is written before the
    #: next is read): a fresh 2 MB array per chip costs the kernel's zeroing of its pages.
    buffers: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict)

    @classmethod
    def open(cls, dataset: Any, cells: CellCache | None) -> ChipSource:
        dtype = str(dataset.dtypes[0])
        masked = dataset.nodata is None and not all(f.name == "all_valid" for f in dataset.mask_flag_enums[0])
        all_valid = dataset.nodata is None and not masked and not np.issubdtype(np.dtype(dtype), np.floating)
        return cls(dataset, None if masked else cells, dataset.count, dtype, dataset.nodata, all_valid)

    def buffer(self, window: ChipWindow) -> np.ndarray:
        shape = (self.count, window.height, window.width)
        if shape not in self.buffers:
            self.buffers[shape] = np.empty(shape, self.dtype)
        return self.buffers[shape]

    def inside(self, window: ChipWindow) -> bool:
        width: int = self.dataset.width
        height: int = self.dataset.height
        return window.col_off + window.width <= width and window.row_off + window.height <= height


def read_window(source: ChipSource, window: ChipWindow) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels of the window (padded with nodata past the image edge) and the valid-pixel mask (None: every
    pixel is valid)."""
    dataset = source.dataset
    rio_window = Window(window.col_off, window.row_off, window.width, window.height)
    inside = source.inside(window)
    if inside and source.cells is not None:
        data = source.cells.read(dataset, window, out=source.buffer(window))
    elif inside:
        data = np.asarray(dataset.read(window=rio_window))
    else:
        fill = dataset.nodata if dataset.nodata is not None else 0
        data = np.asarray(dataset.read(window=rio_window, boundless=True, fill_value=fill))
    if inside and source.all_valid:
        return data, None
    valid = valid_mask(data, dataset.nodata)
    if dataset.nodata is None and not all(flag.name == "all_valid" for flag in dataset.mask_flag_enums[0]):
        valid &= np.asarray(dataset.dataset_mask(window=rio_window, boundless=not inside)) > 0
    if not inside:
        valid[window.height - max(0, window.row_off + window.height - dataset.height) :, :] = False
        valid[:, window.width - max(0, window.col_off + window.width - dataset.width) :] = False
    return data, valid


def chip_transform(source: Affine, window: ChipWindow) -> Affine:
    """Maps chip pixel (r, c) exactly onto source pixel (row_off + r, col_off + c) of an image whose
    transform is ``source``."""
    transform: Affine = source @ Affine.translation(window.col_off, window.row_off)
    return transform


def in_memory(width: int, height: int, count: int, dtype: str, **profile: Any) -> Any:
    """A MEM dataset to copy from. GDAL's CreateCopy from MEM releases the GIL in rasterio, whereas writing a
    COG or JPEG directly (a copy-on-close driver) holds it (figures: benchmarks/README.md)."""
    return rasterio.MemoryFile().open(
        driver="MEM", width=width, height=height, count=count, dtype=dtype, **profile
    )


LayoutKey = tuple[int, int, tuple[str, ...]]


class LayoutCache:
    """The chip layouts of one run (tiling.chip_tiff) by chip width, height and metadata keys, each made
    once from a template GDAL writes. A run's threads share one (tiling.pipeline); a task without it (a
    process or a Dask worker of its own) makes its own."""

    def __init__(self) -> None:
        self._layouts: dict[LayoutKey, ChipTiffLayout | None] = {}
        self._lock = threading.Lock()

    def get(self, key: LayoutKey, make: Callable[[], ChipTiffLayout | None]) -> ChipTiffLayout | None:
        with self._lock:
            if key in self._layouts:
                return self._layouts[key]
        layout = make()  # outside the lock: two threads may both make one; the first kept wins
        with self._lock:
            return self._layouts.setdefault(key, layout)


#: rasterio.shutil.copy without its decorator, which sets up and tears down a rasterio environment on every
#: call, holding the GIL. Only for use inside ``rasterio.Env()``,
#: as every task runs (see tiling.batch).
copy_dataset: Any = getattr(rasterio.shutil.copy, "__wrapped__", rasterio.shutil.copy)


class ChipWriter:
    """Writes the chips of one task: encoded here in the layout GDAL gives them where a template chip
    vouches for it (tiling.chip_tiff: faster than GDAL's copy), otherwise by GDAL from one
    MEM dataset reused from chip to chip.

    Creating a MEM dataset holds the GIL (and zero-fills its pixels) about as long as the Python
    work of a whole chip; only a chip with a mask of its own (padding of an image without nodata, or
    a source mask) gets a fresh one, so no mask carries over to the next chip.
    """

    def __init__(self, dataset: Any, job: TileJob, layouts: LayoutCache | None = None) -> None:
        self._dataset = dataset
        self._layouts = layouts if layouts is not None else LayoutCache()
        #: The paths of the chips and previews written so far, for the batch to make durable.
        self.written: list[str] = []
        #: Read once: rasterio builds the transform anew from GDAL's on every access.
        self._transform: Affine = dataset.transform
        self._out = str(job.out_dir)
        self._job = job
        # Chips are copied to fresh temporary names (tiling.atomic): skip GDAL's attempt to find and delete
        # an existing dataset there first (it probes the path with every driver).
        self._options = {
            **job.params.compression.chip_options(job.params.size),
            "quiet_delete_on_create_copy": "NO",
        }
        self._reused: Any = None
        self._encoders: dict[tuple[int, int], ChipTiffWriter | None] = {}
        #: The task's previews are built here, one after the other.
        self.previews = PreviewBuilder()

    def __enter__(self) -> ChipWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._reused is not None:
            self._reused.close()
            self._reused = None

    def _open(self, window: ChipWindow) -> Any:
        dataset = self._dataset
        mem = in_memory(
            window.width,
            window.height,
            dataset.count,
            dataset.dtypes[0],
            crs=dataset.crs,
            transform=chip_transform(self._transform, window),
            nodata=dataset.nodata,
        )
        for band, description in enumerate(dataset.descriptions, start=1):
            if description:
                mem.set_band_description(band, description)
        return mem

    def _encoder(self, window: ChipWindow, tags: dict[str, str]) -> ChipTiffWriter | None:
        """The encoder of chips of this window's size; None where GDAL must write them (a compression
        without an encoder here, or a layout the template cannot vouch for)."""
        size = (window.width, window.height)
        if size not in self._encoders:
            layout = self._layout(window, tuple(sorted(tags)))
            self._encoders[size] = ChipTiffWriter(layout) if layout is not None else None
        encoder = self._encoders[size]
        return encoder if encoder is not None and encoder.layout.can_write(tags) else None

    def _layout(self, window: ChipWindow, keys: tuple[str, ...]) -> ChipTiffLayout | None:
        """The run's layout of chips of this window's size (None: not ZSTD, GDAL writes them)."""
        zstd_level = self._options.get("zstd_level")
        if self._job.params.compression is not Compression.ZSTD or not isinstance(zstd_level, int):
            return None
        return self._layouts.get(
            (window.width, window.height, keys), lambda: self._template(window, keys, zstd_level)
        )

    def _template(self, window: ChipWindow, keys: tuple[str, ...], zstd_level: int) -> ChipTiffLayout | None:
        """A template chip of this window's size written by GDAL into memory, and the layout read from it."""
        with closing(self._open(window)) as mem:
            mem.update_tags(**{key: placeholder(key) for key in keys})
            with rasterio.MemoryFile() as template:
                copy_dataset(mem, template.name, **self._options)
                data = template.read()
        return ChipTiffLayout.from_template(
            data,
            transform=chip_transform(self._transform, window),
            dtype=self._dataset.dtypes[0],
            bands=self._dataset.count,
            metadata_keys=keys,
            zstd_level=zstd_level,
        )

    def write(
        self,
        window: ChipWindow,
        data: np.ndarray,
        valid: np.ndarray | None,
        valid_fraction: float,
        chip_id: str,
    ) -> bool:
        """Write the chip; whether GDAL wrote it (rather than the fast writer)."""
        job = self._job
        tags = chip_tags(job, window, valid_fraction, chip_id)
        masked = self._dataset.nodata is None and valid is not None and not bool(valid.all())
        encoder = None if masked else self._encoder(window, tags)
        if encoder is not None:
            chunks = encoder.chunks(data, chip_transform(self._transform, window), tags)
            final = f"{self._out}/{job.chip_path(window)}"
            write_atomically(final, chunks)
            self.written.append(final)
            return False
        if masked:
            mem = self._open(window)
        else:
            if self._reused is None or (self._reused.width, self._reused.height) != (
                window.width,
                window.height,
            ):
                self.__exit__()
                self._reused = self._open(window)
            mem = self._reused
            mem.transform = chip_transform(self._transform, window)
        try:
            mem.write(data)
            if masked:
                mem.write_mask(valid)
            mem.update_tags(**tags)
            final = f"{self._out}/{job.chip_path(window)}"
            with atomic_name(final) as temp:
                copy_dataset(mem, temp, **self._options)
            self.written.append(final)
        finally:
            if masked:
                mem.close()
        return True


def chip_tags(job: TileJob, window: ChipWindow, valid_fraction: float, chip_id: str) -> dict[str, str]:
    return {
        "GEO_LABEL_CHIP_ID": chip_id,
        "GEO_LABEL_IMAGE_SHA256": job.image_sha256,
        "GEO_LABEL_SOURCE_WINDOW": f"{window.row_off},{window.col_off},{window.height},{window.width}",
        VALID_FRACTION_TAG: repr(valid_fraction),
        **({"GEO_LABEL_MARKING": job.marking} if job.marking else {}),
    }


@lru_cache(maxsize=8)
def lookup_tables(stretch: DisplayStretch, dtype: str) -> np.ndarray | None:
    """``stretch.apply`` of every value an integer type of at most 16 bits can hold: one row per displayed
    band, indexed by the value's bits as unsigned. Identical to stretching pixel by pixel, much cheaper."""
    index_type = LOOKUP_DTYPES.get(dtype)
    if index_type is None:
        return None
    values = np.arange(1 << (8 * np.dtype(index_type).itemsize), dtype=index_type).view(dtype)
    tables = stretch.apply(np.broadcast_to(values, (len(stretch.bands), values.size)))
    tables.setflags(write=False)
    return tables


class PreviewBuilder:
    """Builds previews' pixels (see :meth:`pixels`) in an image array kept from chip to chip; integer bands
    through their lookup table (:func:`lookup_tables`)."""

    def __init__(self) -> None:
        self._image: np.ndarray | None = None

    def pixels(self, stretch: DisplayStretch, data: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
        """The displayed bands of ``data`` (bands x rows x cols) stretched to uint8, invalid pixels black,
        laid out as the JPEG encoder takes them: rows x cols x 4 (RGBX, the fourth byte unused) for three
        bands, rows x cols for one. Valid until the next call.

        The interleaved image is built here, one band at a time, with no separate merge of three planes.
        """
        if len(stretch.bands) not in (1, 3):
            raise ValueError(f"a preview shows one band or three, not {len(stretch.bands)}")
        rows, cols = data.shape[1:]
        shape = (rows, cols, 4) if len(stretch.bands) == 3 else (rows, cols)
        if self._image is None or self._image.shape != shape:
            self._image = np.empty(shape, np.uint8)
        image = self._image
        planes = [image] if image.ndim == 2 else [image[:, :, i] for i in range(len(stretch.bands))]
        tables = lookup_tables(stretch, str(data.dtype))
        if tables is None:
            for plane, values in zip(
                planes, stretch.apply(data[[b - 1 for b in stretch.bands]]), strict=True
            ):
                plane[...] = values
        else:
            index_dtype = LOOKUP_DTYPES[str(data.dtype)]
            for plane, band, table in zip(planes, stretch.bands, tables, strict=True):
                # "clip" (every value is in the table) lets take write straight into the strided plane.
                np.take(table, data[band - 1].view(index_dtype), out=plane, mode="clip")
        if valid is not None and not bool(valid.all()):
            image[~valid] = 0
        return image


def preview_pixels(stretch: DisplayStretch, data: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """The preview image's pixels of a chip (see :meth:`PreviewBuilder.pixels`), in fresh arrays."""
    return PreviewBuilder().pixels(stretch, data, valid)


def write_preview(
    job: TileJob,
    window: ChipWindow,
    data: np.ndarray,
    valid: np.ndarray | None,
    builder: PreviewBuilder | None = None,
) -> str:
    """The chip as an 8-bit baseline JPEG (4:2:0) with the image's stretch (nodata black), built by
    ``builder`` (a task's, reused from chip to chip); its path.

    Encoded by simplejpeg (libjpeg-turbo), which releases the GIL while it encodes, where Pillow
    holds it throughout (two threads encoded no faster than one), and far faster than GDAL's JPEG driver.
    """
    pixels = (builder or PreviewBuilder()).pixels(job.stretch, data, valid)
    colorspace = "GRAY" if pixels.ndim == 2 else "RGBX"
    encoded = simplejpeg.encode_jpeg(
        pixels.reshape(*pixels.shape[:2], -1),
        quality=PREVIEW_QUALITY,
        colorspace=colorspace,
        colorsubsampling="420",
    )
    final = f"{job.out_dir}/{job.preview_path(window)}"
    write_atomically(final, [encoded])
    return final


def recorded_valid_fraction(path: str | Path) -> float | None:
    """The valid fraction stored in a chip written by an earlier run, or None if it cannot be trusted: its
    tags unreadable, or the file not whole (a tile past its end: cut short by a crash or a full disk)."""
    try:
        with rasterio.open(path) as chip:
            value = chip.tags().get(VALID_FRACTION_TAG)
            whole = _tiles_within(chip, os.path.getsize(path))
    except (rasterio.errors.RasterioIOError, OSError, ValueError):
        return None
    return float(value) if value is not None and whole else None


def _tiles_within(chip: Any, size: int) -> bool:
    """Whether every tile (or strip) of every band ends within the file's ``size`` bytes, as GDAL reads
    their offsets and byte counts from the TIFF directory."""
    rows, cols = chip.block_shapes[0]
    for band in range(1, chip.count + 1):
        for y in range(-(-chip.height // rows)):
            for x in range(-(-chip.width // cols)):
                offset = chip.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=band)
                length = chip.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=band)
                if offset is None or length is None or int(offset) + int(length) > size:
                    return False
    return True


def preview_is_whole(path: str) -> bool:
    """A JPEG ends with its end-of-image marker: a preview cut short does not."""
    try:
        with open(path, "rb") as preview:
            preview.seek(-2, os.SEEK_END)
            return preview.read(2) == b"\xff\xd9"
    except OSError:
        return False


def process_chip(
    source: ChipSource, writer: ChipWriter, job: TileJob, window: ChipWindow
) -> tuple[ChipRecord, bool, bool]:
    """Write (or find already written) one chip; returns its record, whether this call wrote it, and whether
    GDAL did (not the fast writer)."""
    chip_id = job.chip_id(window)
    chip_file, preview_file = (
        f"{job.out_dir}/{job.chip_path(window)}",
        f"{job.out_dir}/{job.preview_path(window)}",
    )
    if is_regular_file(chip_file) and is_regular_file(preview_file) and preview_is_whole(preview_file):
        fraction = recorded_valid_fraction(chip_file)
        if fraction is not None:
            if source.cells is not None and source.inside(window):
                source.cells.done_with(source.dataset, window)
            return make_record(job, window, chip_id, fraction, written=True), False, False
    data, valid = read_window(source, window)
    fraction = 1.0 if valid is None else float(valid.sum()) / valid.size
    keep = fraction > 0.0 and fraction >= job.params.min_valid
    if not keep:
        return make_record(job, window, chip_id, fraction, written=False), False, False
    by_gdal = writer.write(window, data, valid, fraction, chip_id)
    writer.written.append(write_preview(job, window, data, valid, writer.previews))
    return make_record(job, window, chip_id, fraction, written=True), True, by_gdal


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
