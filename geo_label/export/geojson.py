"""Streaming GeoJSON export writer: RFC 7946 FeatureCollections and RFC 8142 GeoJSON text sequences.

Pure: no database. :func:`write_export` takes the features to export (already access-filtered by the caller,
for the acting user and the recipient) as an iterable that may yield millions of items, for example from a
server-side cursor, and writes them to a binary stream in constant memory.

Decisions, and why:

**The summary goes first, through a spool file.** The banner (the roll-up of exactly the exported features,
MARKINGS.md section 5), the feature count and the bbox are known only after the last feature, yet they belong
at the top: a person who opens the file, or runs ``head`` on it, sees the classification before any content,
as on a marked page, and a streaming reader learns the banner and the count before the first feature. So the
encoded features go to an anonymous temporary file (a fixed ~1 MiB buffer in memory; the file is unlinked
from the start and disappears when closed or when the process dies), and only when the iterable is exhausted
is the header written to ``out``, followed by the spooled features. Two more properties follow: if anything
fails half-way (a bad geometry, a marking that may not go to the recipient, a database error in the
iterable), nothing at all has been written to ``out``, never a truncated file without its banner; and the
output is ordinary GeoJSON with the header members in the usual place, which GDAL, geopandas and every other
reader take as they come. The cost is writing the features twice, once to the spool and once to ``out``;
copying runs at disk speed, well above the encoding rate. Writing the summary members after the features
array would have saved the copy (JSON member order is free) but leaves the banner at the end of a file of
perhaps gigabytes, and a failure half-way would leave an unmarked partial file; it was rejected. The spool
holds marked content: put it (``spool_dir``) on storage accredited for the export, by default the system
temporary directory (``TMPDIR``).

**GeoJSON** (``application/geo+json``)::

    {"type":"FeatureCollection","banner":"SECRET//REL TO USA, GBR","name":...,"project":...,
     "exported_at":"...Z","exported_by":...,"recipient":...,"feature_count":2,"bbox":[w,s,e,n],"features":[
    {"type":"Feature","id":...,"geometry":{...},"properties":{...,"marking":"(S//REL TO USA, GBR)",...}},
    {"type":"Feature",...}
    ]}

One feature per line. No ``crs`` member (RFC 7946 section 4: always WGS 84 lon/lat). ``bbox`` follows RFC
7946 section 5 (west > east when it crosses the antimeridian) and is left out when no feature has a geometry,
because RFC 7946 allows only an array there; ``ExportSummary.bbox`` is then None.

**GeoJSON text sequence** (RFC 8142, ``application/geo+json-seq``): every record is RS (0x1E), one GeoJSON
text, LF. The first record is the header: a FeatureCollection with the same summary members as above and an
empty ``features`` array; every following record is one Feature. RFC 8142 explicitly permits sequences that
mix FeatureCollections and Features, and GDAL's GeoJSONSeq driver (so geopandas, QGIS, ogr2ogr) deliberately
skips FeatureCollection records, so readers get exactly the exported features, with no stand-in feature, no
null geometry and no extra columns, while the banner is still the file's first line for a person and the first
record for a streaming reader. (GDAL's fast feature count counts records, so ``ogrinfo`` says one more than
the features it reads.) The alternative, a first Feature with a null geometry carrying the banner, would put a
fake label into every downstream database; it was rejected.

**Every feature is marked**: its properties carry ``marking`` (portion form, ``(S//REL TO USA, GBR)``) and
``marking_banner`` (banner form) of its own marking, whatever the format. When the header names a recipient
nation, each feature's marking must be releasable to it (``access_control.releasable_to``): the caller's
filter should already have dropped the others (MARKINGS.md section 8), so one that arrives here is a fault
and the export fails, writing nothing, rather than dropping it silently (enforcement twice).

**Deterministic**: the bytes depend only on the arguments. Features are written in the order given; the
top-level and Feature members in the fixed order shown above (``type`` first); the members of
``properties`` and of any object inside it sorted by key. Datetimes, at any depth, are written as RFC 3339
in UTC (``2024-05-01T12:00:00Z``, with microseconds when non-zero); naive datetimes are refused, as the
result would depend on the server's zone. Floats are written as the shortest text that reads back to the same
value, so a coordinate rounded to 7 decimals has at most 7; NaN and infinite property values become null.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import IO, Any, BinaryIO, Final, Protocol

import orjson
from shapely.geometry.base import BaseGeometry

from access_control import Marking, MarkingError, MarkingRegistry, dominates, releasable_to, roll_up
from geo_label.export.geometry import (
    MAX_PRECISION,
    BBoxAccumulator,
    ExportError,
    FloatArray,
    geojson_geometries,
    normalize_geometries,
    part_bounds,
)

__all__ = [
    "GEOJSON_FORMATS",
    "EncodedFeatures",
    "ExportError",
    "ExportFeature",
    "ExportFormat",
    "ExportHeader",
    "ExportSummary",
    "StreamedExport",
    "encode_each",
    "write_export",
    "write_small_export",
]

#: Features encoded per vectorised geometry batch; bounds memory, large enough to amortise numpy calls.
BATCH_SIZE: Final = 2048
#: Spool writes and output copies are made in chunks of about this many bytes.
CHUNK_SIZE: Final = 1 << 20

_RS: Final = b"\x1e"
_PROPERTY_OPTIONS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_UTC_Z
_NESTED_OPTIONS: Final = _PROPERTY_OPTIONS | orjson.OPT_PASSTHROUGH_DATETIME
#: Property value types written as they are (checked by exact type: subclasses take the slower path).
_PLAIN_TYPES: Final = frozenset({str, int, float, bool, type(None)})


class ExportFormat(StrEnum):
    GEOJSON = "geojson"
    GEOJSONSEQ = "geojsonseq"
    #: Written by :mod:`geo_label.export.geoparquet`, not by this module.
    GEOPARQUET = "geoparquet"
    #: Written by :mod:`geo_label.export.geopackage`, not by this module.
    GPKG = "gpkg"


#: The formats :func:`write_export` writes.
GEOJSON_FORMATS: Final = (ExportFormat.GEOJSON, ExportFormat.GEOJSONSEQ)
#: The formats written as typed columns, in batches (geo_label.export.geoparquet and .geopackage).
COLUMNAR_FORMATS: Final = (ExportFormat.GEOPARQUET, ExportFormat.GPKG)


@dataclass(frozen=True, slots=True)
class ExportFeature:
    """One feature to export.

    ``geometry`` is a shapely geometry in EPSG:4326 (lon, lat): a point, line or polygon, single or multi; an
    empty one is written as ``"geometry": null``. ``properties`` values may be str, int, float, bool, None,
    timezone-aware datetime, date, or dicts and lists of those; the names ``marking`` and
    ``marking_banner`` are reserved for the writer. ``id`` should be unique within an export; the writer
    does not check it, as that would take memory growing with the number of features.
    """

    id: str
    geometry: BaseGeometry
    marking: Marking
    properties: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class EncodedFeatures:
    """Features already encoded, for a producer that renders them faster than :class:`ExportFeature` can
    (the database export, see :mod:`geo_label.export.postgis`).

    ``texts`` are complete GeoJSON Feature objects, one per feature, exactly as the writer would write them
    (``type`` first, properties sorted by key with the marking's ``marking`` and ``marking_banner``,
    geometries in their RFC 7946 form); ``markings`` the distinct markings among them; ``bounds`` the
    ``(xmin, ymin, xmax, ymax)`` rows of their parts, for the bbox.
    """

    texts: list[bytes]
    markings: frozenset[Marking]
    bounds: FloatArray


@dataclass(frozen=True)
class ExportHeader:
    """Who exported what, when and for whom; ``recipient`` is a partner nation's trigraph (None: USA only)."""

    project: str
    exported_at: datetime
    exported_by: str
    recipient: str | None


@dataclass(frozen=True)
class ExportSummary:
    """What was written, for the audit record: ``banner`` is the roll-up of exactly the exported features
    (UNCLASSIFIED for none), ``bbox`` their RFC 7946 bbox (None when no feature has a geometry), and
    ``sha256`` the hex digest of the ``bytes_written`` bytes written to ``out``."""

    count: int
    banner: Marking
    bbox: tuple[float, float, float, float] | None
    bytes_written: int = 0
    sha256: str = ""


def write_export(
    features: Iterable[ExportFeature | EncodedFeatures],
    header: ExportHeader,
    out: BinaryIO,
    fmt: ExportFormat,
    *,
    precision: int = 7,
    spool_dir: str | os.PathLike[str] | None = None,
    registry: MarkingRegistry | None = None,
) -> ExportSummary:
    """Write ``features`` to ``out`` as GeoJSON or a GeoJSON text sequence (see the module docstring).

    Memory stays constant whatever the number of features: they are encoded in batches of
    :data:`BATCH_SIZE` and spooled to an anonymous temporary file in ``spool_dir`` until the summary is
    known. Coordinates are rounded to ``precision`` decimals (7, about 1 cm, by default; 0 to 15).
    ``registry`` (the default one if None) knows the recipient's country code.

    Raises :class:`ExportError` (naming the feature) for a geometry, marking or property that cannot be
    exported, ``MarkingError`` for an unknown recipient, and nothing is written to ``out`` in either case.
    ``out`` is written from its current position and flushed, not closed.
    """
    fmt = ExportFormat(fmt)
    if fmt in COLUMNAR_FORMATS:
        raise ValueError(f"{fmt.value} is written by geo_label.export.{fmt.value}")
    with tempfile.TemporaryFile(dir=spool_dir) as spool:
        return _write(features, header, out, fmt, precision, registry, spool)


def write_small_export(
    features: Iterable[ExportFeature | EncodedFeatures],
    header: ExportHeader,
    out: BinaryIO,
    *,
    precision: int = 7,
    registry: MarkingRegistry | None = None,
) -> ExportSummary:
    """:func:`write_export` (GeoJSON) for a few features, spooled in memory rather than in a file: for many
    small files, such as a dataset's labels of one chip each."""
    return _write(features, header, out, ExportFormat.GEOJSON, precision, registry, io.BytesIO())


def _write(
    features: Iterable[ExportFeature | EncodedFeatures],
    header: ExportHeader,
    out: BinaryIO,
    fmt: ExportFormat,
    precision: int,
    registry: MarkingRegistry | None,
    spool: IO[bytes],
) -> ExportSummary:
    _check_arguments(header, precision)
    exported_at = _rfc3339(header.exported_at, "exported_at")
    recipient = _check_recipient(header.recipient, registry)
    encoder = _Encoder(fmt, precision, recipient, registry)
    sink = _Sink(spool)
    for batch in _batches(features):
        if isinstance(batch, EncodedFeatures):
            encoder.encoded(batch, sink)
        else:
            encoder.encode(batch, sink)
    sink.flush()
    banner = roll_up(encoder.markings)
    if recipient is not None and not releasable_to(banner, recipient, registry):  # pragma: no cover
        raise ExportError(f"the export's banner {banner.banner()} is not releasable to {recipient}")
    bbox = encoder.bbox.result()
    head, tail = _envelope(fmt, header, exported_at, banner, encoder.count, bbox)
    spool.seek(0)
    written, digest = _copy(head, spool, tail, out)
    return ExportSummary(count=encoder.count, banner=banner, bbox=bbox, bytes_written=written, sha256=digest)


class StreamedExport:
    """An export written as it is read, for the API (issue 21): a download starts at once, and no spool holds
    the whole file. The banner must be known beforehand (the roll-up of what the export's query returns,
    computed in the same snapshot) and opens the file as in :func:`write_export`; the count and the bbox,
    known only at the end, close it: the FeatureCollection's last members, or a last FeatureCollection record
    of a text sequence. A feature marked above the banner stops the stream (:class:`ExportError`): the file
    already sent says what it holds at most, never less. Iterate :meth:`chunks`; ``count``, ``bbox`` and
    ``markings`` then say what was written."""

    def __init__(
        self,
        features: Iterable[ExportFeature | EncodedFeatures],
        header: ExportHeader,
        fmt: ExportFormat,
        *,
        banner: Marking,
        precision: int = 7,
        registry: MarkingRegistry | None = None,
    ) -> None:
        self.fmt = ExportFormat(fmt)
        if self.fmt in COLUMNAR_FORMATS:
            raise ValueError(f"{self.fmt.value} is written by geo_label.export.{self.fmt.value}")
        _check_arguments(header, precision)
        self.recipient = _check_recipient(header.recipient, registry)
        if self.recipient is not None and not releasable_to(banner, self.recipient, registry):
            raise ExportError(f"the export's banner {banner.banner()} is not releasable to {self.recipient}")
        self._features, self._header, self._precision, self._registry = features, header, precision, registry
        self.banner = banner
        self.count = 0
        self.bbox: tuple[float, float, float, float] | None = None
        self.markings: frozenset[Marking] = frozenset()

    def chunks(self) -> Generator[bytes, None, None]:
        exported_at = _rfc3339(self._header.exported_at, "exported_at")
        encoder = _Encoder(self.fmt, self._precision, self.recipient, self._registry)
        parts: list[bytes] = []
        sink = _Sink(_Appender(parts))
        yield _streamed_head(self.fmt, self._header, exported_at, self.banner)
        checked: set[Marking] = set()
        for batch in _batches(self._features):
            if isinstance(batch, EncodedFeatures):
                encoder.encoded(batch, sink)
            else:
                encoder.encode(batch, sink)
            for marking in encoder.markings - checked:
                if not dominates(self.banner, marking):
                    raise ExportError(f"a feature marked {marking.banner()} is above the export's banner")
                checked.add(marking)
            self.count = encoder.count
            if parts:
                yield b"".join(parts)
                parts.clear()
        sink.flush()
        self.count, self.bbox = encoder.count, encoder.bbox.result()
        self.markings = frozenset(encoder.markings)
        yield b"".join(parts) + _streamed_tail(self.fmt, self.banner, self.count, self.bbox)


class _Appender:
    """A write target that keeps what is written, for :class:`StreamedExport` to hand on."""

    def __init__(self, parts: list[bytes]) -> None:
        self._parts = parts

    def write(self, data: bytes) -> int:
        self._parts.append(data)
        return len(data)


def _check_arguments(header: ExportHeader, precision: int) -> None:
    if isinstance(precision, bool) or not isinstance(precision, int) or not 0 <= precision <= MAX_PRECISION:
        raise ValueError(f"precision must be an integer from 0 to {MAX_PRECISION}, not {precision!r}")
    for name in ("project", "exported_by"):
        if not isinstance(getattr(header, name), str):
            raise TypeError(f"header.{name} must be a string, not {getattr(header, name)!r}")


def _opening(header: ExportHeader, exported_at: str, banner: Marking) -> dict[str, Any]:
    """The members every export opens with: what it is, its banner, and who exported what for whom."""
    return {
        "type": "FeatureCollection",
        "banner": banner.banner(),
        "name": header.project,
        "project": header.project,
        "exported_at": exported_at,
        "exported_by": header.exported_by,
        "recipient": header.recipient,
    }


def _streamed_head(fmt: ExportFormat, header: ExportHeader, exported_at: str, banner: Marking) -> bytes:
    opening = _opening(header, exported_at, banner)
    if fmt is ExportFormat.GEOJSON:
        return orjson.dumps(opening)[:-1] + b',"features":['
    return _RS + orjson.dumps({**opening, "features": []}) + b"\n"


def _streamed_tail(
    fmt: ExportFormat, banner: Marking, count: int, bbox: tuple[float, float, float, float] | None
) -> bytes:
    closing: dict[str, Any] = {"feature_count": count}
    if bbox is not None:
        closing["bbox"] = list(bbox)
    if fmt is ExportFormat.GEOJSON:
        return b"\n]," + orjson.dumps(closing)[1:] + b"\n"
    record = {"type": "FeatureCollection", "banner": banner.banner(), **closing, "features": []}
    return _RS + orjson.dumps(record) + b"\n"


def encode_each(features: Sequence[ExportFeature], precision: int = 7) -> list[EncodedFeatures]:
    """Each feature encoded on its own, in one vectorised pass over them all: for features written later in
    small groups (a dataset's labels, a file per chip), where encoding each group apart costs most."""
    encoder = _Encoder(ExportFormat.GEOJSON, precision, None, None)
    ids = [_feature_id(feature) for feature in features]
    geometries = normalize_geometries([feature.geometry for feature in features], ids, precision)
    dumps, option = orjson.dumps, orjson.OPT_SERIALIZE_NUMPY
    encoded = []
    for feature, feature_id, geometry, shape in zip(
        features, ids, geojson_geometries(geometries), geometries, strict=True
    ):
        portion, banner = encoder._marking(feature, feature_id)
        text = _feature_text(
            feature_id,
            dumps(geometry, option=option),
            _encode_properties(feature, feature_id, portion, banner),
        )
        encoded.append(EncodedFeatures([text], frozenset({feature.marking}), part_bounds([shape])))
    return encoded


def _feature_text(feature_id: str, geometry: bytes, properties: bytes) -> bytes:
    return b"".join(
        (
            b'{"type":"Feature","id":',
            orjson.dumps(feature_id),
            b',"geometry":',
            geometry,
            b',"properties":',
            properties,
            b"}",
        )
    )


class _Target(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _Sink:
    """Collects encoded bytes and writes them to the spool in chunks of about :data:`CHUNK_SIZE`."""

    def __init__(self, target: _Target) -> None:
        self._target = target
        self._parts: list[bytes] = []
        self._size = 0

    def add(self, data: bytes) -> None:
        self._parts.append(data)
        self._size += len(data)
        if self._size >= CHUNK_SIZE:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            self._target.write(b"".join(self._parts))
            self._parts.clear()
            self._size = 0


class _Encoder:
    """Encodes batches of features and keeps the running summary (count, distinct markings, bbox)."""

    def __init__(
        self, fmt: ExportFormat, precision: int, recipient: str | None, registry: MarkingRegistry | None
    ) -> None:
        self.precision = precision
        self.recipient = recipient
        self.registry = registry
        self.count = 0
        self.markings: set[Marking] = set()
        self.bbox = BBoxAccumulator()
        # Portion and banner text per distinct marking (as few as ``markings``), and the recipient check done.
        self._marking_text: dict[Marking, tuple[str, str]] = {}
        # What goes before the first feature, before each later one, and after each: one feature per line.
        if fmt is ExportFormat.GEOJSON:
            self._first_separator, self._separator, self._suffix = b"\n", b",\n", b"}"
        else:
            self._first_separator, self._separator, self._suffix = _RS, _RS, b"}\n"

    def encode(self, batch: list[ExportFeature], sink: _Sink) -> None:
        for feature in batch:
            if not isinstance(feature, ExportFeature):
                raise TypeError(f"features must be ExportFeature, not {type(feature).__name__}")
        ids = [_feature_id(feature) for feature in batch]
        texts = self._geometry_texts(batch, ids)
        separator, after = self._separator, self._suffix[1:]  # what follows the Feature's closing brace
        add = sink.add
        for feature, feature_id, geometry in zip(batch, ids, texts, strict=True):
            portion, banner = self._marking(feature, feature_id)
            properties = _encode_properties(feature, feature_id, portion, banner)
            start = separator if self.count else self._first_separator
            add(start + _feature_text(feature_id, geometry, properties) + after)
            self.count += 1

    def _geometry_texts(self, batch: list[ExportFeature], ids: list[str]) -> list[bytes]:
        """Each feature's geometry as GeoJSON text (one vectorised pass over the batch), and into the bbox."""
        geometries = normalize_geometries([feature.geometry for feature in batch], ids, self.precision)
        dumps, option = orjson.dumps, orjson.OPT_SERIALIZE_NUMPY
        self.bbox.add(part_bounds(geometries))
        return [dumps(obj, option=option) for obj in geojson_geometries(geometries)]

    def encoded(self, batch: EncodedFeatures, sink: _Sink) -> None:
        """Add features encoded by the producer: their markings are checked and collected like any others."""
        for marking in batch.markings:
            self._check(marking, "a feature")
        if not batch.texts:
            return
        start = self._separator if self.count else self._first_separator
        if self._suffix == b"}":  # GeoJSON: features separated by ",\n"
            sink.add(start + b",\n".join(batch.texts))
        else:  # text sequence: RS before each record, LF after
            sink.add(_RS + b"\n\x1e".join(batch.texts) + b"\n")
        self.count += len(batch.texts)
        self.bbox.add(batch.bounds)

    def _marking(self, feature: ExportFeature, feature_id: str) -> tuple[str, str]:
        marking = feature.marking
        if not isinstance(marking, Marking):
            raise ExportError(f"feature {feature_id!r}: marking is {type(marking).__name__}, not a Marking")
        return self._check(marking, f"feature {feature_id!r}")

    def _check(self, marking: Marking, what: str) -> tuple[str, str]:
        """The portion and banner text of ``marking``, checked against the recipient once."""
        text = self._marking_text.get(marking)
        if text is None:
            if self.recipient is not None and not releasable_to(marking, self.recipient, self.registry):
                raise ExportError(
                    f"{what}: marked {marking.banner()}, which is not releasable to "
                    f"{self.recipient}; the export's access filter should have left it out"
                )
            text = (marking.portion(), marking.banner())
            self._marking_text[marking] = text
            self.markings.add(marking)
        return text


def _batches(
    features: Iterable[ExportFeature | EncodedFeatures],
) -> Iterator[list[ExportFeature] | EncodedFeatures]:
    """Features in lists of up to BATCH_SIZE; already encoded batches pass as they are, in their place."""
    pending: list[ExportFeature] = []
    for item in features:
        if type(item) is EncodedFeatures:
            if pending:
                yield pending
                pending = []
            yield item
            continue
        pending.append(item)  # type: ignore[arg-type]
        if len(pending) == BATCH_SIZE:
            yield pending
            pending = []
    if pending:
        yield pending


def _feature_id(feature: ExportFeature) -> str:
    if not isinstance(feature.id, str) or not feature.id:
        raise ExportError(f"feature id must be a non-empty string, not {feature.id!r}")
    return feature.id


def _encode_properties(feature: ExportFeature, feature_id: str, portion: str, banner: str) -> bytes:
    """The ``properties`` object: the caller's properties plus the marking, keys sorted at every depth."""
    properties = dict(feature.properties)
    if "marking" in properties or "marking_banner" in properties:
        key = "marking" if "marking" in properties else "marking_banner"
        raise ExportError(f"feature {feature_id!r}: property {key!r} is reserved for the writer")
    try:
        for key, value in properties.items():
            kind = type(value)
            if kind in _PLAIN_TYPES:
                continue
            if kind is datetime and value.tzinfo is UTC:
                continue  # orjson writes it as RFC 3339 with a Z (OPT_UTC_Z)
            if isinstance(value, datetime):
                properties[key] = _utc(value, key)
            elif isinstance(value, dict | list | tuple):
                # orjson cannot convert datetimes to UTC itself: containers are encoded separately, with
                # _nested_default handling their datetimes, and embedded as they are.
                properties[key] = orjson.Fragment(
                    orjson.dumps(value, default=_nested_default, option=_NESTED_OPTIONS)
                )
        properties["marking"] = portion
        properties["marking_banner"] = banner
        return orjson.dumps(properties, option=_PROPERTY_OPTIONS)
    except ExportError as exc:
        raise ExportError(f"feature {feature_id!r}: {exc}") from None
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        if isinstance(exc.__cause__, ExportError):  # raised by _nested_default
            raise ExportError(f"feature {feature_id!r}: {exc.__cause__}") from None
        raise ExportError(f"feature {feature_id!r}: properties cannot be written as JSON ({exc})") from exc


def _nested_default(value: object) -> object:
    if isinstance(value, datetime):
        return _rfc3339(value, "a nested property")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"type {type(value).__name__} is not JSON serializable")


def _utc(value: datetime, name: str) -> datetime | str:
    """The same instant in UTC, as a datetime orjson writes natively or, for a subclass, as text."""
    if type(value) is not datetime:
        return _rfc3339(value, name)
    if value.utcoffset() is None:
        raise ExportError(f"{name} is a naive datetime: give it a time zone, e.g. datetime.now(UTC)")
    return value.astimezone(UTC)


def _rfc3339(value: datetime, name: str) -> str:
    """RFC 3339 in UTC with a ``Z``: ``2024-05-01T12:00:00Z``, ``2024-05-01T12:00:00.250000Z``.

    The same text orjson writes for a UTC datetime with ``OPT_UTC_Z``.
    """
    if value.utcoffset() is None:
        raise ExportError(f"{name} is a naive datetime: give it a time zone, e.g. datetime.now(UTC)")
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def _check_recipient(recipient: str | None, registry: MarkingRegistry | None) -> str | None:
    """The recipient as a registered trigraph (MarkingError if it is not one), or None for USA only."""
    if recipient is None:
        return None
    if not isinstance(recipient, str):
        raise TypeError(f"recipient must be a country trigraph or None, not {recipient!r}")
    # Raises MarkingError for a tetragraph or an unknown code.
    releasable_to(Marking.unclassified(), recipient, registry)
    code = recipient.strip().upper()
    if code != recipient:
        raise MarkingError(f"recipient {recipient!r} must be written as the trigraph {code!r}")
    return code


def _envelope(
    fmt: ExportFormat,
    header: ExportHeader,
    exported_at: str,
    banner: Marking,
    count: int,
    bbox: tuple[float, float, float, float] | None,
) -> tuple[bytes, bytes]:
    """The bytes before and after the spooled features."""
    summary = {**_opening(header, exported_at, banner), "feature_count": count}
    if bbox is not None:
        summary["bbox"] = list(bbox)
    if fmt is ExportFormat.GEOJSON:
        opening = orjson.dumps(summary)
        return opening[:-1] + b',"features":[', b"\n]}\n"
    summary["features"] = []
    return _RS + orjson.dumps(summary) + b"\n", b""


def _copy(head: bytes, spool: IO[bytes], tail: bytes, out: BinaryIO) -> tuple[int, str]:
    digest = hashlib.sha256()
    written = 0

    def emit(data: bytes) -> None:
        nonlocal written
        out.write(data)
        digest.update(data)
        written += len(data)

    emit(head)
    while chunk := spool.read(CHUNK_SIZE):
        emit(chunk)
    if tail:
        emit(tail)
    out.flush()
    return written, digest.hexdigest()
