"""Files an operator can get wrong, each refused with its own ImageryError and a one-sentence message."""

from __future__ import annotations

import socket
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import imagery.reader
from imagery import (
    CorruptImageError,
    EmptyImageError,
    ImageNotFoundError,
    ImageryError,
    ImplausibleDimensionsError,
    NotARasterError,
    inspect_image,
    open_raster,
)
from tests import rasters


def error_of(path: str | Path, **kwargs: Any) -> ImageryError:
    with pytest.raises(ImageryError) as raised:
        inspect_image(path, **kwargs)
    message = str(raised.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    return raised.value


def claimed_tiff(path: Path, width: int, height: int, bands: int = 1) -> Path:
    """A well-formed little-endian TIFF header claiming ``width`` x ``height`` x ``bands``, one strip."""
    entries = [
        (256, 4, width),  # ImageWidth
        (257, 4, height),  # ImageLength
        (258, 3, 8),  # BitsPerSample
        (259, 3, 1),  # Compression: none
        (262, 3, 1),  # Photometric: min-is-black
        (273, 4, 8),  # StripOffsets
        (277, 3, bands),  # SamplesPerPixel
        (278, 4, height),  # RowsPerStrip
        (279, 4, 16),  # StripByteCounts
        (284, 3, 1),  # PlanarConfiguration: contiguous
    ]
    body = struct.pack("<2sHI", b"II", 42, 24) + bytes(16) + struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        body += struct.pack("<HHI", tag, kind, 1)
        body += struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
    path.write_bytes(body + struct.pack("<I", 0))
    return path


@pytest.fixture(scope="module")
def truncated_image(utm_image: Path, imagery_dir: Path) -> Path:
    """The DEFLATE-tiled utm fixture cut to 60% of its bytes."""
    return rasters.truncated(imagery_dir / "truncated.tif", utm_image, keep_fraction=0.6)


def test_missing_file(tmp_path: Path) -> None:
    error = error_of(tmp_path / "nowhere.tif")
    assert isinstance(error, ImageNotFoundError)
    assert "no such file" in str(error)


def test_directory(tmp_path: Path) -> None:
    error = error_of(tmp_path)
    assert isinstance(error, ImageNotFoundError)
    assert "not a regular file" in str(error)


def test_text_file_is_not_a_raster(tmp_path: Path) -> None:
    path = tmp_path / "notes.tif"
    path.write_text("not an image, just some notes\n" * 20, encoding="utf-8")
    error = error_of(path)
    assert isinstance(error, NotARasterError)
    assert "not a raster" in str(error)


def test_zero_byte_file_is_empty(tmp_path: Path) -> None:
    """Regression: a 0-byte file was reported as "not a raster image GDAL can read"."""
    path = tmp_path / "empty.tif"
    path.write_bytes(b"")
    error = error_of(path)
    assert isinstance(error, EmptyImageError)
    assert "empty" in str(error) and "0 bytes" in str(error)
    with pytest.raises(EmptyImageError), open_raster(path):
        pass


def test_truncated_geotiff_is_corrupt(truncated_image: Path) -> None:
    error = error_of(truncated_image)
    assert isinstance(error, CorruptImageError)
    assert "truncated or corrupt" in str(error) or "cannot open" in str(error)


def test_truncated_read_error_gives_gdals_reason(truncated_image: Path) -> None:
    """Regression: the message ended "(Read failed. See previous exception for details.)", an exception the
    one-line error never shows; it now carries GDAL's own reason."""
    message = str(error_of(truncated_image))
    assert "previous exception" not in message
    assert "Read error" in message or "TIFF" in message


def test_random_bytes_after_a_tiff_header_are_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "noise.tif"
    path.write_bytes(b"II*\x00" + np.random.default_rng(7).bytes(4096))
    assert isinstance(error_of(path), CorruptImageError)


def test_damaged_pixel_data_is_corrupt(utm_image: Path, tmp_path: Path) -> None:
    """Header and tile index intact, compressed tiles overwritten: opens, then fails on the sample read."""
    data = bytearray(utm_image.read_bytes())
    start = len(data) // 3
    data[start:] = np.random.default_rng(8).bytes(len(data) - start)
    path = tmp_path / "damaged.tif"
    path.write_bytes(bytes(data))
    inspect_image(path, statistics=False)  # the header alone is fine
    error = error_of(path)
    assert isinstance(error, CorruptImageError)
    assert "pixel data cannot be read" in str(error)


def test_absurd_header_from_the_shared_factory(tmp_path: Path) -> None:
    """rasters.absurd_tiff claims 4e9 x 4e9 pixels; libtiff rejects it before the dimension check can."""
    error = error_of(rasters.absurd_tiff(tmp_path / "absurd.tif"), statistics=False)
    assert isinstance(error, ImplausibleDimensionsError | CorruptImageError)


@pytest.mark.parametrize(
    ("width", "height", "bands"),
    [
        (5_000_000, 1, 1),
        (1, 5_000_000, 1),
        (1_000_000, 2_000_000, 1),
        (100, 100, 3_000),
        (4_000_000_000, 1, 1),
    ],
    ids=["too-wide", "too-tall", "too-many-pixels", "too-many-bands", "4e9-wide"],
)
def test_implausible_dimensions(tmp_path: Path, width: int, height: int, bands: int) -> None:
    error = error_of(claimed_tiff(tmp_path / "claims.tif", width, height, bands), statistics=False)
    assert isinstance(error, ImplausibleDimensionsError)
    assert "implausible" in str(error) or "beyond any real image" in str(error)


@pytest.mark.parametrize(
    "path",
    [
        "/vsicurl/http://example.invalid/x.tif",
        "https://example.invalid/x.tif",
        "HTTP://example.invalid/x.tif",
        "s3://bucket/x.tif",
        "/vsis3/bucket/x.tif",
        "/VSICURL/https://example.invalid/x.tif",
    ],
)
def test_remote_paths_are_refused_before_gdal_sees_them(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_gdal(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"rasterio.open reached with {args}")

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network used")

    monkeypatch.setattr(imagery.reader.rasterio, "open", no_gdal)
    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(ImageNotFoundError, match="never uses the network"), open_raster(path):
        pass
    with pytest.raises(ImageNotFoundError, match="only local files"):
        inspect_image(path)
