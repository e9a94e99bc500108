"""Chips encoded and laid out here, in the very Cloud Optimized GeoTIFF layout GDAL gives them.

Why: in a tiling run, GDAL's copy of a MEM dataset into a GTiff chip costs half as much CPU again as the
same chip written here (figures: benchmarks/README.md); beyond ZSTD itself, GDAL's time goes to
interleaving the bands, its block cache, libtiff's buffer copies and per-file set-up. The chips of one run
differ only in their pixels, their tiepoint and their metadata text, so GDAL's work on everything else can
be done once.

How: once per run, GDAL writes a template chip (zeros, every metadata value a placeholder) into memory. Its
TIFF header, GDAL's structural metadata ("ghost" area: IFD before data, row-major tiles, each with its size
before it and its last 4 bytes after it) and its IFD entries are kept. A chip is then that header with its
own tile offsets and sizes, tiepoint and metadata, followed by its tiles: the TIFF horizontal predictor in
NumPy, ZSTD by pyarrow's codec (which releases the GIL). Readers see the file GDAL would have written; only
the compressed bytes may differ (another ZSTD build), never the pixels they decode to.

The template vouches for everything: a layout, tag or value this module does not know (BigTIFF, a mask, a
rotated or point-registered transform, another compression) gives no layout, and the caller lets GDAL
write the chips instead.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine

from tiling.libraries import import_arrow

TIFF_MAGIC = b"II*\x00"
GHOST_PREFIX = b"GDAL_STRUCTURAL_METADATA_SIZE="
#: The structural metadata a chip may declare, with the values this writer honours.
GHOST_ITEMS = {
    b"LAYOUT": b"IFDS_BEFORE_DATA",
    b"BLOCK_ORDER": b"ROW_MAJOR",
    b"BLOCK_LEADER": b"SIZE_AS_UINT4",
    b"BLOCK_TRAILER": b"LAST_4_BYTES_REPEATED",
    b"KNOWN_INCOMPATIBLE_EDITION": b"NO",
}
#: Bytes per value of each TIFF field type (classic TIFF; LONG8 and friends are BigTIFF only).
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
LONG = 4
DOUBLE = 12
IMAGE_WIDTH, IMAGE_LENGTH, COMPRESSION, PLANAR_CONFIG, PREDICTOR = 256, 257, 259, 284, 317
BITS_PER_SAMPLE, SAMPLES_PER_PIXEL = 258, 277
TILE_WIDTH, TILE_LENGTH, TILE_OFFSETS, TILE_BYTE_COUNTS = 322, 323, 324, 325
MODEL_PIXEL_SCALE, MODEL_TIEPOINT, MODEL_TRANSFORMATION = 33550, 33922, 34264
GDAL_METADATA = 42112
COMPRESSION_ZSTD = 50000
PLANAR_CONTIG = 1
PREDICTOR_NONE, PREDICTOR_HORIZONTAL = 1, 2
#: Tags whose values are the chip's own, rebuilt for every chip.
PER_CHIP_TAGS = {TILE_OFFSETS, TILE_BYTE_COUNTS, MODEL_TIEPOINT, GDAL_METADATA}
#: Metadata values written straight into GDAL's XML: characters XML (and GDAL's escaping) leave as they are.
PLAIN_VALUE = re.compile(r"[A-Za-z0-9 ,./:;_+=()-]*")
#: Unsigned types of each sample size: the predictor differences the samples' bits, whatever their type.
UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def placeholder(key: str) -> str:
    """The stand-in a template chip carries for metadata item ``key``."""
    return f"@@{key}@@"


@dataclass(frozen=True, slots=True)
class Entry:
    """One IFD entry: tag, field type, value count and the value's bytes (little-endian)."""

    tag: int
    type: int
    count: int
    value: bytes


def read_template(data: bytes) -> tuple[bytes, dict[int, Entry]] | None:
    """GDAL's ghost area and the IFD entries of a single-image classic little-endian TIFF, or None."""
    if len(data) < 8 or data[:4] != TIFF_MAGIC:
        return None
    (ifd,) = struct.unpack_from("<I", data, 4)
    if ifd < 8 or ifd + 2 > len(data):
        return None
    (count,) = struct.unpack_from("<H", data, ifd)
    end = ifd + 2 + 12 * count
    if end + 4 > len(data) or struct.unpack_from("<I", data, end)[0] != 0:
        return None  # a second IFD (mask, overview): not a layout written here
    entries: dict[int, Entry] = {}
    for i in range(count):
        tag, kind, n, inline = struct.unpack_from("<HHII", data, ifd + 2 + 12 * i)
        size = TYPE_SIZES.get(kind)
        if size is None:
            return None
        length = size * n
        start = ifd + 2 + 12 * i + 8 if length <= 4 else inline
        if start + length > len(data):
            return None
        entries[tag] = Entry(tag, kind, n, data[start : start + length])
    return data[8:ifd], entries


def ghost_is_known(ghost: bytes) -> bool:
    """Whether GDAL's structural metadata asks for exactly the layout this module writes."""
    if not ghost.startswith(GHOST_PREFIX):
        return False
    items = dict(line.split(b"=", 1) for line in ghost.split(b"\n")[1:] if line.strip() and b"=" in line)
    return items == GHOST_ITEMS


def shorts(entry: Entry | None) -> tuple[int, ...]:
    if entry is None or entry.type not in (3, 4):
        return ()
    fmt = "H" if entry.type == 3 else "I"
    return struct.unpack(f"<{entry.count}{fmt}", entry.value)


def doubles(entry: Entry | None) -> tuple[float, ...]:
    if entry is None or entry.type != DOUBLE:
        return ()
    return struct.unpack(f"<{entry.count}d", entry.value)


@dataclass(frozen=True, slots=True)
class HeaderTemplate:
    """A chip's header with every constant byte in place: ``prefix`` is the TIFF header, ghost area, IFD
    and the constant out-of-line values; each chip appends its own block (tiepoint, tile offsets and sizes
    when there are several tiles, metadata) at the fixed offset ``len(prefix)`` and patches the fields
    whose positions are given. Building the IFD afresh per chip is GIL-bound Python."""

    prefix: bytes
    tiles: int
    metadata_count_at: int
    tile_offsets_at: int
    tile_counts_at: int

    @classmethod
    def build(cls, ghost: bytes, constant: list[Entry], tiles: int) -> HeaderTemplate:
        ifd_offset = 8 + len(ghost)
        count = len(constant) + len(PER_CHIP_TAGS)
        values_offset = ifd_offset + 2 + 12 * count + 4
        values = bytearray()
        placed: dict[int, int] = {}
        for entry in constant:
            if len(entry.value) > 4:
                placed[entry.tag] = values_offset + len(values)
                values += entry.value + b"\x00" * (len(entry.value) % 2)
        block = values_offset + len(values)
        arrays = 4 * tiles if tiles > 1 else 0
        per_chip = {
            MODEL_TIEPOINT: (DOUBLE, 6, block),
            TILE_OFFSETS: (LONG, tiles, block + 48 if arrays else 0),
            TILE_BYTE_COUNTS: (LONG, tiles, block + 48 + arrays if arrays else 0),
            GDAL_METADATA: (2, 0, block + 48 + 2 * arrays),
        }
        ifd = bytearray(struct.pack("<4sI", TIFF_MAGIC, ifd_offset) + ghost + struct.pack("<H", count))
        positions: dict[int, int] = {}
        for tag in sorted([*(entry.tag for entry in constant), *per_chip]):
            positions[tag] = len(ifd)
            if tag in per_chip:
                kind, n, value = per_chip[tag]
                ifd += struct.pack("<HHII", tag, kind, n, value)
                continue
            entry = next(e for e in constant if e.tag == tag)
            if tag in placed:
                ifd += struct.pack("<HHII", tag, entry.type, entry.count, placed[tag])
            else:
                ifd += struct.pack("<HHI", tag, entry.type, entry.count) + entry.value.ljust(4, b"\x00")
        ifd += struct.pack("<I", 0)
        return cls(
            prefix=bytes(ifd + values),
            tiles=tiles,
            metadata_count_at=positions[GDAL_METADATA] + 4,
            tile_offsets_at=positions[TILE_OFFSETS] + 8,
            tile_counts_at=positions[TILE_BYTE_COUNTS] + 8,
        )

    def header(self, tile_sizes: list[int], tiepoint: tuple[float, float], metadata: bytes) -> bytes:
        """The header of a chip with these tiles (compressed sizes), tiepoint and metadata XML."""
        text = metadata + b"\x00" * (1 + (len(metadata) + 1) % 2)  # NUL-terminated, even length
        start = len(self.prefix) + 48 + (8 * self.tiles if self.tiles > 1 else 0) + len(text)
        # Each tile comes behind its 4-byte size and is followed by a copy of its last 4 bytes.
        offsets, position = [], start
        for size in tile_sizes:
            offsets.append(position + 4)
            position += 4 + size + 4
        head = bytearray(self.prefix)
        struct.pack_into("<I", head, self.metadata_count_at, len(metadata) + 1)
        block = struct.pack("<6d", 0.0, 0.0, 0.0, tiepoint[0], tiepoint[1], 0.0)
        if self.tiles > 1:
            block += struct.pack(f"<{self.tiles}I{self.tiles}I", *offsets, *tile_sizes)
        else:
            struct.pack_into("<I", head, self.tile_offsets_at, offsets[0])
            struct.pack_into("<I", head, self.tile_counts_at, tile_sizes[0])
        return bytes(head + block + text)


@dataclass(frozen=True, slots=True)
class ChipTiffLayout:
    """The header of one run's chips, less what each chip has of its own; see the module docstring."""

    template: HeaderTemplate
    width: int
    height: int
    bands: int
    dtype: np.dtype[Any]
    tile_width: int
    tile_height: int
    predictor: bool
    #: The metadata XML cut at its placeholders: text, key, text, key, ..., text.
    metadata_parts: tuple[str, ...]
    zstd_level: int

    @classmethod
    def from_template(
        cls,
        data: bytes,
        *,
        transform: Affine,
        dtype: str,
        bands: int,
        metadata_keys: tuple[str, ...],
        zstd_level: int,
    ) -> ChipTiffLayout | None:
        """The layout of GDAL's template chip ``data`` (written with ``transform``, ``metadata_keys`` as
        placeholders), or None when it holds anything this module would not reproduce exactly."""
        parsed = read_template(data)
        if parsed is None:
            return None
        ghost, entries = parsed
        sample = np.dtype(dtype)
        if (
            not ghost_is_known(ghost)
            or sample.kind not in "uif"
            or sample.itemsize not in UNSIGNED
            or shorts(entries.get(COMPRESSION)) != (COMPRESSION_ZSTD,)
            or shorts(entries.get(PLANAR_CONFIG)) not in ((PLANAR_CONTIG,), ())
            or (shorts(entries.get(SAMPLES_PER_PIXEL)) or (1,)) != (bands,)
            or shorts(entries.get(BITS_PER_SAMPLE)) != (8 * sample.itemsize,) * bands
            or not {TILE_OFFSETS, TILE_BYTE_COUNTS, MODEL_TIEPOINT, GDAL_METADATA} <= entries.keys()
            or MODEL_TRANSFORMATION in entries
        ):
            return None
        predictor = shorts(entries.get(PREDICTOR)) or (PREDICTOR_NONE,)
        # North-up, pixel-is-area: the tiepoint is pixel (0, 0) at the transform's origin, as GDAL writes it.
        north_up = (0.0, 0.0, 0.0, transform.c, transform.f, 0.0)
        if (
            predictor not in ((PREDICTOR_NONE,), (PREDICTOR_HORIZONTAL,))
            or doubles(entries.get(MODEL_TIEPOINT)) != north_up
            or doubles(entries.get(MODEL_PIXEL_SCALE)) != (transform.a, -transform.e, 0.0)
            or transform.b != 0.0
            or transform.d != 0.0
        ):
            return None
        parts = metadata_parts(entries[GDAL_METADATA].value.rstrip(b"\x00").decode("ascii"), metadata_keys)
        sizes = [shorts(entries.get(tag)) for tag in (IMAGE_WIDTH, IMAGE_LENGTH, TILE_WIDTH, TILE_LENGTH)]
        if parts is None or any(len(size) != 1 for size in sizes):
            return None
        (width,), (height,), (tile_width,), (tile_height,) = sizes
        tiles = -(-width // tile_width) * -(-height // tile_height)
        constant = [entry for tag, entry in sorted(entries.items()) if tag not in PER_CHIP_TAGS]
        return cls(
            template=HeaderTemplate.build(ghost, constant, tiles),
            width=width,
            height=height,
            bands=bands,
            dtype=sample,
            tile_width=tile_width,
            tile_height=tile_height,
            predictor=predictor == (PREDICTOR_HORIZONTAL,),
            metadata_parts=parts,
            zstd_level=zstd_level,
        )

    def can_write(self, tags: dict[str, str]) -> bool:
        """Whether a chip with these metadata items fits this layout (same keys, values XML leaves as is)."""
        return tags.keys() == set(self.metadata_parts[1::2]) and all(
            PLAIN_VALUE.fullmatch(value) for value in tags.values()
        )

    def metadata(self, tags: dict[str, str]) -> bytes:
        parts = list(self.metadata_parts)
        parts[1::2] = [tags[key] for key in self.metadata_parts[1::2]]
        return "".join(parts).encode("ascii")

    def header(self, tile_sizes: list[int], transform: Affine, tags: dict[str, str]) -> bytes:
        """Everything before the first tile: TIFF header, ghost area, IFD and its out-of-line values."""
        return self.template.header(tile_sizes, (transform.c, transform.f), self.metadata(tags))


class ChipTiffWriter:
    """Encodes chips in a :class:`ChipTiffLayout`; one per thread (it reuses its tile buffer and codec)."""

    def __init__(self, layout: ChipTiffLayout) -> None:
        import_arrow()
        import pyarrow as pa

        self.layout = layout
        self._codec = pa.Codec("zstd", compression_level=layout.zstd_level)
        #: Tile pixels after the predictor; a fresh 2 MB array per tile costs the kernel zeroing its pages.
        self._tile = np.zeros((layout.tile_height, layout.tile_width, layout.bands), layout.dtype)
        #: The chip's band planes after the predictor, likewise kept.
        self._planes: np.ndarray | None = None

    def tiles(self, pixels: np.ndarray) -> list[Any]:
        """The chip's tiles, row-major, predicted and compressed; ``pixels`` is bands x rows x cols."""
        layout, tile = self.layout, self._tile
        planes = self._predicted(pixels) if layout.predictor else pixels
        encoded = []
        for top in range(0, layout.height, layout.tile_height):
            for left in range(0, layout.width, layout.tile_width):
                interleave(planes[:, top : top + layout.tile_height, left : left + layout.tile_width], tile)
                encoded.append(self._codec.compress(tile, asbytes=False))
        return encoded

    def _predicted(self, pixels: np.ndarray) -> np.ndarray:
        """TIFF predictor 2 of ``pixels`` (bands x rows x cols), still in band planes (see
        :func:`horizontal_difference`), into a buffer kept from chip to chip."""
        if self._planes is None or self._planes.shape != pixels.shape:
            self._planes = np.empty(pixels.shape, UNSIGNED[pixels.dtype.itemsize])
        horizontal_difference(pixels, self._planes, self.layout.tile_width)
        return self._planes

    def chunks(self, pixels: np.ndarray, transform: Affine, tags: dict[str, str]) -> list[Any]:
        """The whole chip file as byte buffers, to be written one after the other."""
        tiles = self.tiles(pixels)
        chunks: list[Any] = [self.layout.header([tile.size for tile in tiles], transform, tags)]
        for tile in tiles:
            # cast("B"): a pyarrow buffer exports its capacity as its shape (its length is its size), so a
            # negative index on the plain view reads past the tile, into memory never written.
            view = memoryview(tile).cast("B")
            chunks += [struct.pack("<I", tile.size), view, bytes(view[-4:])]
        return chunks


def metadata_parts(xml: str, keys: tuple[str, ...]) -> tuple[str, ...] | None:
    """``xml`` cut at the placeholders of ``keys``, in the order they appear, each exactly once; or None."""
    found = sorted((xml.find(placeholder(key)), key) for key in keys)
    if any(xml.count(placeholder(key)) != 1 for key in keys) or (found and found[0][0] < 0):
        return None
    parts: list[str] = []
    start = 0
    for position, key in found:
        parts += [xml[start:position], key]
        start = position + len(placeholder(key))
    parts.append(xml[start:])
    return tuple(parts)


def horizontal_difference(pixels: np.ndarray, out: np.ndarray, tile_width: int) -> None:
    """TIFF predictor 2 of ``pixels`` (bands x rows x cols) into ``out`` (same shape, unsigned): each sample
    minus the same band's sample to its left, in the samples' unsigned bits (wrapping, as libtiff does),
    except in the first column of every tile (``tile_width`` apart), which is kept as it is.

    In band planes, each taken as one long row: one contiguous subtraction per band, then the tiles'
    first columns put back, and the predicted planes interleaved afterwards (:func:`interleave`): a fraction
    of the time of subtracting straight into the interleaved tile, a write every 8 bytes.
    """
    bands = pixels.shape[0]
    unsigned = UNSIGNED[pixels.dtype.itemsize]
    source = np.ascontiguousarray(pixels).view(unsigned)
    flat_source, flat_out = source.reshape(bands, -1), out.reshape(bands, -1)
    np.subtract(flat_source[:, 1:], flat_source[:, :-1], out=flat_out[:, 1:])
    out[:, :, ::tile_width] = source[:, :, ::tile_width]


def interleave(planes: np.ndarray, tile: np.ndarray) -> None:
    """Band planes (bands x rows x cols, at most the tile's size) into the pixel-interleaved ``tile`` (rows
    x cols x bands), zeros past the planes' edges (TIFF tiles are always whole).

    Band by band, each plane as one long row where it fills the tile (a strided copy). The chips are band
    planes in memory because GDAL reads the source into planes faster than interleaved, and previews look
    up contiguous planes.
    """
    bands, rows, cols = planes.shape
    target = tile.view(planes.dtype)  # the predicted planes are the samples' unsigned bits
    if (rows, cols) == tile.shape[:2]:
        flat = target.reshape(-1, bands)
        for band in range(bands):
            flat[:, band] = planes[band].reshape(-1)
        return
    tile.fill(0)
    for band in range(bands):
        target[:rows, :cols, band] = planes[band]
