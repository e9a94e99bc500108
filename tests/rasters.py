"""Factories for the real raster files the tests read: each writes a small file with rasterio."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.control import GroundControlPoint
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin

from imagery.synthetic import SceneSpec, write_scene

UTM_ORIGIN = (399960.0, 4500000.0)


def utm_uint16(path: Path, width: int = 1100, height: int = 900, seed: int = 1) -> Path:
    """4-band uint16 in UTM 33N, 10 m pixels, tiled 256, with acquisition time and sensor tags."""
    spec = SceneSpec(
        width=width,
        height=height,
        seed=seed,
        creation_options={"tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"},
        tags={"ACQUISITION_DATETIME": "2024-05-06T07:08:09Z", "SENSOR": "SYNTH-1"},
    )
    return write_scene(path, spec)


def rgb_wgs84(path: Path, width: int = 700, height: int = 500) -> Path:
    """uint8 RGB in EPSG:4326 with RGB colour interpretation."""
    rng = np.random.default_rng(2)
    data = rng.integers(0, 255, (3, height, width), dtype=np.uint8)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:4326",
        "transform": from_origin(12.0, 45.0, 1e-4, 1e-4),
        "photometric": "RGB",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
    return path


NODATA = -9999.0


def float_with_holes(path: Path, width: int = 1000, height: int = 1000) -> Path:
    """float32 single band with nodata: the top-left 600 x 600 pixels empty, scattered holes elsewhere."""
    rng = np.random.default_rng(3)
    data = rng.normal(100.0, 10.0, (1, height, width)).astype(np.float32)
    data[:, :600, :600] = NODATA
    data[:, rng.integers(0, height, 500), rng.integers(0, width, 500)] = NODATA
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:32618",
        "transform": from_origin(500000.0, 4000000.0, 0.5, 0.5),
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def nitf(path: Path, width: int = 300, height: int = 200, **security: str) -> Path:
    """A NITF 2.1 file with the given file- and image-header security fields (FSCLAS=..., ISCLAS=...)."""
    fields = {"FSCLAS": "U", "ISCLAS": "U", **security}
    data = (np.arange(width * height, dtype=np.uint32) % 251).astype(np.uint8).reshape(1, height, width)
    profile = {
        "driver": "NITF",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:4326",
        "transform": from_origin(44.0, 33.0, 1e-5, 1e-5),
        "ICORDS": "G",
        "IDATIM": "20240102030405",
        "ISORCE": "WV03",
        **fields,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def gcps_only(path: Path, width: int = 400, height: int = 300) -> Path:
    """uint8, no geotransform, four GCPs in EPSG:4326 (a slightly rotated footprint)."""
    data = (np.indices((height, width)).sum(axis=0) % 256).astype(np.uint8)[None]
    gcps = [
        GroundControlPoint(0, 0, 10.00, 50.00),
        GroundControlPoint(0, width, 10.05, 50.01),
        GroundControlPoint(height, 0, 9.99, 49.97),
        GroundControlPoint(height, width, 10.04, 49.98),
    ]
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": "uint8"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.gcps = (gcps, rasterio.crs.CRS.from_epsg(4326))
    return path


def plain_png(path: Path) -> Path:
    """An ordinary PNG: a raster GDAL reads, with no georeferencing at all."""
    profile = {"driver": "PNG", "width": 64, "height": 64, "count": 3, "dtype": "uint8"}
    with rasterio.MemoryFile() as memory:
        with memory.open(**{**profile, "driver": "GTiff"}) as mem:
            mem.write(np.zeros((3, 64, 64), np.uint8))
        with memory.open() as mem:
            rasterio.shutil.copy(mem, path, driver="PNG")
    return path


def truncated(path: Path, source: Path, keep_fraction: float = 0.6) -> Path:
    """The first ``keep_fraction`` of ``source``'s bytes."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path


def absurd_tiff(path: Path) -> Path:
    """A hand-made little-endian TIFF whose header claims 4,000,000,000 x 4,000,000,000 pixels."""
    entries = [
        (256, 4, 1, 4_000_000_000),  # ImageWidth
        (257, 4, 1, 4_000_000_000),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: min-is-black
        (273, 4, 1, 8),  # StripOffsets
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, 4_000_000_000),  # RowsPerStrip
        (279, 4, 1, 16),  # StripByteCounts
    ]
    ifd_offset = 8 + 16
    body = struct.pack("<2sHI", b"II", 42, ifd_offset) + bytes(16)
    body += struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<HHI", tag, kind, count)
        packed += struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        body += packed
    body += struct.pack("<I", 0)
    path.write_bytes(body)
    return path
