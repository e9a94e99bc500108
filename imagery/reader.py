"""Open a raster for reading, whatever its georeferencing, or fail with an error a person can act on."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.vrt import WarpedVRT

from imagery.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageNotFoundError,
    ImplausibleDimensionsError,
    NotARasterError,
    NotGeoreferencedError,
)

#: Larger than any sensor's scene or mosaic strip; a header claiming more is corrupt or hostile.
MAX_SIDE_PIXELS = 4_194_304
MAX_BANDS = 2_000
MAX_PIXELS = 10**12

REMOTE_PREFIXES = ("/vsi", "http:", "https:", "ftp:", "s3:", "gs:", "az:")


class Georeferencing(StrEnum):
    """How pixel positions map to the ground."""

    GEOTRANSFORM = "geotransform"
    GCPS = "gcps (read through a warped VRT)"
    RPCS = "rpcs (read through a warped VRT)"


@dataclass(frozen=True, slots=True)
class OpenedRaster:
    """A readable, georeferenced view of an image, plus the dataset GDAL opened from the file.

    ``dataset`` is what to read pixels from: the file itself, or a warped VRT over it when the file is
    georeferenced only by GCPs or RPCs. ``source`` is the file as stored, for its own metadata.
    """

    path: Path
    dataset: Any
    source: Any
    georeferencing: Georeferencing


def check_local_file(path: Path) -> Path:
    """Refuse remote or missing paths before GDAL sees them (GDAL would happily try the network)."""
    text = str(path)
    if text.lower().startswith(REMOTE_PREFIXES):
        raise ImageNotFoundError(f"{text}: only local files are read (GeoLabel never uses the network)")
    if not path.exists():
        raise ImageNotFoundError(f"{text}: no such file")
    if not path.is_file():
        raise ImageNotFoundError(f"{text}: not a regular file")
    if path.stat().st_size == 0:
        raise EmptyImageError(f"{text}: the file is empty (0 bytes)")
    return path


def _open_dataset(path: Path) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioIOError as exc:
        message = str(exc)
        if (
            "not recognized as being in a supported file format" in message
            or "not recognized as a" in message
        ):
            raise NotARasterError(f"{path}: not a raster image GDAL can read") from None
        if "Cannot allocate" in message or "too large" in message.lower():
            raise ImplausibleDimensionsError(f"{path}: header dimensions are implausible") from None
        raise CorruptImageError(f"{path}: cannot open the image ({first_line(message)})") from None


def first_line(message: str) -> str:
    """GDAL messages can span lines; the CLI and API show one."""
    return message.strip().splitlines()[0] if message.strip() else "unknown GDAL error"


def check_dimensions(path: Path, dataset: Any) -> None:
    width, height, count = dataset.width, dataset.height, dataset.count
    if width <= 0 or height <= 0 or count <= 0:
        raise EmptyImageError(f"{path}: image has no pixels ({width} x {height}, {count} bands)")
    if (
        width > MAX_SIDE_PIXELS
        or height > MAX_SIDE_PIXELS
        or count > MAX_BANDS
        or width * height > MAX_PIXELS
    ):
        raise ImplausibleDimensionsError(
            f"{path}: header claims {width} x {height} pixels and {count} bands, beyond any real image"
        )


def classify_georeferencing(dataset: Any) -> Georeferencing:
    if dataset.crs is not None and not dataset.transform.is_identity:
        return Georeferencing.GEOTRANSFORM
    gcps, gcp_crs = dataset.gcps
    if gcps and gcp_crs is not None:
        return Georeferencing.GCPS
    if dataset.rpcs is not None:
        return Georeferencing.RPCS
    raise NotGeoreferencedError(
        f"{dataset.name}: no georeferencing (no CRS with a geotransform, no GCPs, no RPCs); "
        "georeference it first, e.g. with gdal_translate -a_srs/-a_ullr or gdalwarp"
    )


def warped_view(dataset: Any, georeferencing: Georeferencing) -> Any:
    """A VRT that resamples a GCP- or RPC-referenced image onto a regular grid (nearest, no new values)."""
    if georeferencing is Georeferencing.GCPS:
        _, gcp_crs = dataset.gcps
        return WarpedVRT(dataset, src_crs=gcp_crs, crs=gcp_crs)
    return WarpedVRT(dataset, crs="EPSG:4326", warp_extras={"SRC_METHOD": "RPC"})


@contextmanager
def open_raster(path: str | Path) -> Iterator[OpenedRaster]:
    """Open ``path`` read-only as a georeferenced raster; closes everything it opened on exit.

    Raises an :class:`~imagery.errors.ImageryError` subclass with a one-sentence reason for a missing file,
    a file that is not a raster, one with zero or absurd dimensions, or one without georeferencing.
    """
    file_path = check_local_file(Path(path))
    with ExitStack() as stack:
        source = stack.enter_context(_open_dataset(file_path))
        check_dimensions(file_path, source)
        georeferencing = classify_georeferencing(source)
        dataset = source
        if georeferencing is not Georeferencing.GEOTRANSFORM:
            try:
                dataset = stack.enter_context(warped_view(source, georeferencing))
            # GDAL reports GCPs it cannot solve (collinear, coincident) as a CPLE_AppDefinedError.
            except (RasterioIOError, CPLE_BaseError) as exc:
                raise NotGeoreferencedError(
                    f"{file_path}: its {georeferencing.value.split()[0]} cannot be turned into a grid "
                    f"({first_line(str(exc))})"
                ) from None
        yield OpenedRaster(path=file_path, dataset=dataset, source=source, georeferencing=georeferencing)


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn GDAL read failures inside the block into :class:`CorruptImageError` (truncated files)."""
    try:
        yield
    except RasterioIOError as exc:
        raise CorruptImageError(
            f"{path}: pixel data cannot be read, the file is truncated or corrupt ({gdal_reason(exc)})"
        ) from None


def gdal_reason(exc: BaseException) -> str:
    """First line of GDAL's own message: rasterio's read errors say only "See previous exception", with
    GDAL's reason chained as the cause, which the one-line error would otherwise drop."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    return first_line(str(root))
