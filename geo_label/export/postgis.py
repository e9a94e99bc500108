"""The export's features as PostgreSQL writes them: each one's GeoJSON text built in SQL, streamed by COPY.

An export of a million features must not spend Python time per feature, so the database does the work it is
made for, on its own core, while this process only stitches lines together:

* **SQL** (:func:`feature_columns`) renders every feature's JSON in pieces: the id, the geometry (PostGIS
  rounds it to the grid, drops the points that then repeat, orients polygon rings and writes the GeoJSON,
  when that is the whole of RFC 7946's rules for it, see :func:`geometry_lane`), and the properties in
  sorted key order, as PostgreSQL's JSON of one record (datetimes as RFC 3339 in UTC, ``+00:00``). The
  marking is left out, since only ``access_control`` may format markings: a key of the marking columns
  comes along instead.
* **COPY** ``TO STDOUT`` streams the rows (text format) without a cursor round trip per batch, so the
  server computes the next rows while this process handles the last ones.
* **Python** (:class:`LineDecoder`) splits each line, inserts the marking's portion and banner text
  (formatted once per distinct marking), sorts the keys of non-empty attribute objects, and hands batches of
  finished Feature texts with their markings and extents to the writer (``EncodedFeatures``).
  The rare geometries PostGIS's lane does not take (crossing the antimeridian, or spoiled by rounding) come
  as WKB and go through the writer's own normaliser, the same code that writes any shapely geometry.

The result says what the writer says for the same annotations given as
:class:`~geo_label.export.geojson.ExportFeature` objects (a test holds the two to it, feature by feature), in
the order of the statement; only the text of a datetime differs (``2024-05-01T12:00:00.25+00:00`` where the
writer says ``2024-05-01T12:00:00.250000Z``: the same instant, both RFC 3339).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

import numpy as np
import orjson
import shapely
from sqlalchemy import ColumnElement, Text, and_, case, cast, func, literal, not_, select, true
from sqlalchemy.orm import Session

from access_control import Marking
from geo_label.export.geojson import EncodedFeatures
from geo_label.export.geometry import geojson_geometries, normalize_geometries, part_bounds
from geo_label.markings import marking_of_values

#: Rows decoded into one batch for the writer.
BATCH: Final = 4096
#: An optional text column of the export's select: empty for a feature to write, else the feature goes to
#: ``held`` (the text is the holder's).
HELD: Final = "held"
_NULL: Final = b"\\N"
_EMPTY_OBJECT: Final = b"{}"
_NOT_HELD: Final = b"\t\n"


def json_text(value: Any) -> ColumnElement[str]:
    """The JSON text of a SQL value (``null`` for NULL)."""
    return func.coalesce(cast(func.to_json(value), Text), literal("null"))


def geometry_lane(geometry: Any, precision: int) -> tuple[ColumnElement[bool], Any]:
    """Whether PostGIS may write ``geometry`` itself, and the geometry snapped to the export's grid.

    PostGIS's lane is exactly RFC 7946's rules when the geometry is not empty, lies within [-180, 180] without
    crossing the antimeridian, loses no point to the rounding and stays valid; the writer's normaliser
    handles everything else.
    """
    snapped = func.ST_SnapToGrid(geometry, 10.0**-precision)
    fast = and_(
        not_(func.ST_IsEmpty(geometry)),
        func.ST_XMin(geometry) >= -180.0,
        func.ST_XMax(geometry) <= 180.0,
        func.ST_XMax(geometry) - func.ST_XMin(geometry) <= 180.0,
        func.ST_NPoints(snapped) == func.ST_NPoints(geometry),
        func.ST_IsValid(snapped),
    )
    return fast, snapped


#: Feature properties from PostgreSQL's JSON of one record, in sorted key order. The writer's ``attributes``
#: goes before ``chip_id`` and the marking's ``marking`` and ``marking_banner`` before ``reviewer``.
PROPERTIES = (
    "acquired_at",
    "chip_id",
    "class",
    "confidence",
    "created_at",
    "image_id",
    "labeler",
    "reviewer",
    "sensor",
    "source",
    "status",
    "suggested_by",
    "suggestion_edited",
    "updated_at",
    "version",
)
_COLUMN_OF = {"class": "label_class"}
_ATTRIBUTES_BEFORE: Final = b',"chip_id":'
_MARKING_BEFORE: Final = b',"reviewer":'


def feature_columns(row: Any, precision: int) -> tuple[list[ColumnElement[Any]], Any]:
    """The line of one feature, from a subquery ``row`` with the columns the export selects (see
    :func:`geo_label.exporting.export_rows`) plus ``fast`` and ``snapped`` from :func:`geometry_lane`, and
    the LATERAL subquery the properties' record comes from (to join).

    The order is the one :class:`LineDecoder` reads. Datetimes in the record are written by PostgreSQL as RFC
    3339 with the session's zone, which the service sets to UTC (``+00:00``).
    """
    c = row.c
    properties = (c[_COLUMN_OF.get(name, name)].label(name) for name in PROPERTIES)
    record = select(*properties).correlate(row).lateral("properties")
    columns = [
        func.concat(
            c.classification,
            "|",
            func.array_to_string(c.sci_controls, ","),
            "|",
            func.array_to_string(c.dissemination, ","),
            "|",
            func.array_to_string(c.rel_to, ","),
        ),
        json_text(cast(c.id, Text)),
        case((c.fast, func.ST_AsGeoJSON(func.ST_ForcePolygonCCW(c.snapped), precision))),
        cast(func.to_json(record.table_valued()), Text),
        cast(c.attributes, Text),
        case((c.fast, cast(func.Box2D(c.snapped), Text))),
        case((not_(c.fast), func.encode(func.ST_AsBinary(c.geometry), "hex"))),
    ]
    return columns, record


def lines_statement(rows: Any, precision: int) -> Any:
    """The COPY statement's SELECT over ``rows`` (the export's filtered, ordered select, with ``geometry``).

    Subqueries fenced with OFFSET 0 make PostgreSQL snap each geometry and decide its lane once per row rather
    than once per use, and keep the innermost query's order (no second sort).
    """
    inner = rows.offset(0).subquery("exported")
    fast, snapped = geometry_lane(inner.c.geometry, precision)
    laned = select(*inner.c, fast.label("fast"), snapped.label("snapped")).offset(0).subquery("laned")
    columns, record = feature_columns(laned, precision)
    if HELD in laned.c:  # last: empty, or why the writer holds the feature back (see LineDecoder.batches)
        columns.append(func.coalesce(laned.c[HELD], ""))
    return select(*columns).select_from(laned.join(record, true()))


def copy_lines(session: Session, statement: Any) -> Iterator[bytes]:
    """The rows of ``statement`` as COPY text lines, streamed inside the session's transaction (and so under
    its row-level security context)."""
    compiled = statement.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    connection = session.connection().connection.driver_connection
    assert connection is not None
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY ({compiled}) TO STDOUT", dict(compiled.params)) as copy,
    ):
        for line in copy:
            yield bytes(line)


class LineDecoder:
    """Turns COPY text lines from :func:`lines_statement` into batches for the writer (which checks each
    distinct marking against the recipient). ``precision`` is the grid of the rows that take the writer's
    normaliser."""

    def __init__(self, precision: int) -> None:
        self._precision = precision
        self._markings: dict[bytes, tuple[Marking, bytes]] = {}

    def batches(
        self, lines: Iterable[bytes], held: Callable[[bytes, bytes | None], None] | None = None
    ) -> Iterator[EncodedFeatures]:
        """Batches of finished features. A line whose last field says it is held (see :data:`HELD`) goes to
        ``held`` instead, with its finished Feature text (None for a geometry the writer's normaliser takes):
        decoded here, alongside the server's work, rather than after the stream."""
        texts: list[bytes] = []
        markings: set[Marking] = set()
        bounds: list[tuple[float, float, float, float]] = []
        slow: list[tuple[int, bytes, list[bytes]]] = []  # (index in texts, WKB, the line's fields)
        sort_keys = orjson.OPT_SORT_KEYS
        for line in lines:
            held_line = held is not None and not line.endswith(_NOT_HELD)
            fields = line.rstrip(b"\n").split(b"\t")
            if b"\\\\" in line:  # COPY's only escape in JSON text: a backslash doubled
                fields = [field.replace(b"\\\\", b"\\") for field in fields]
            marking, marking_text = self._marking(fields[0])
            attributes = fields[4]
            if attributes != _EMPTY_OBJECT:
                attributes = orjson.dumps(orjson.loads(attributes), option=sort_keys)
            fields[4] = attributes
            fields[0] = marking_text
            if held_line:
                assert held is not None
                held(line, None if fields[2] == _NULL else _join(fields, fields[2]))
                continue
            markings.add(marking)
            if fields[2] == _NULL:
                slow.append((len(texts), bytes.fromhex(fields[6].decode()), fields))
                texts.append(b"")
            else:
                bounds.append(parse_box(fields[5]))
                texts.append(_join(fields, fields[2]))
            if len(texts) >= BATCH:
                yield self._finish(texts, markings, bounds, slow)
                texts, markings, bounds, slow = [], set(), [], []
        if texts:
            yield self._finish(texts, markings, bounds, slow)

    def marking(self, key: bytes) -> Marking:
        """The marking of a line's first field."""
        return self._marking(key)[0]

    def _marking(self, key: bytes) -> tuple[Marking, bytes]:
        known = self._markings.get(key)
        if known is None:
            level, sci, dissemination, rel_to = key.decode().split("|")
            marking = marking_of_values(int(level), _items(sci), _items(dissemination), _items(rel_to))
            text = b',"marking":' + orjson.dumps(marking.portion())
            known = (marking, text + b',"marking_banner":' + orjson.dumps(marking.banner()))
            self._markings[key] = known
        return known

    def _finish(
        self,
        texts: list[bytes],
        markings: set[Marking],
        bounds: list[tuple[float, float, float, float]],
        slow: list[tuple[int, bytes, list[bytes]]],
    ) -> EncodedFeatures:
        extents = np.asarray(bounds, dtype=np.float64).reshape(-1, 4)
        if slow:
            ids = [str(orjson.loads(fields[1])) for _, _, fields in slow]
            shapes = shapely.from_wkb([wkb for _, wkb, _ in slow])
            normalised = normalize_geometries(list(shapes), ids, self._precision)
            for (index, _, fields), geometry in zip(slow, geojson_geometries(normalised), strict=True):
                texts[index] = _join(fields, orjson.dumps(geometry, option=orjson.OPT_SERIALIZE_NUMPY))
            extents = np.vstack([extents, part_bounds(normalised)])
        return EncodedFeatures(texts=texts, markings=frozenset(markings), bounds=extents)


def _join(fields: list[bytes], geometry: bytes) -> bytes:
    """One Feature's text: fields[0] holds the marking's members by now, fields[3] the properties' record and
    fields[4] the attributes, spliced in before ``chip_id`` (JSON text from PostgreSQL escapes every quote
    inside a string, so the key patterns are found only where they are keys)."""
    record = fields[3]
    at = record.index(_ATTRIBUTES_BEFORE)
    marking_at = record.index(_MARKING_BEFORE, at)
    return b"".join(
        (
            b'{"type":"Feature","id":',
            fields[1],
            b',"geometry":',
            geometry,
            b',"properties":',
            record[:at],
            b',"attributes":',
            fields[4],
            record[at:marking_at],
            fields[0],
            record[marking_at:],
            b"}",
        )
    )


def parse_box(text: bytes) -> tuple[float, float, float, float]:
    """PostGIS's ``BOX(xmin ymin,xmax ymax)`` text as numbers."""
    low, high = text[4:-1].split(b",")
    xmin, ymin = low.split(b" ")
    xmax, ymax = high.split(b" ")
    return float(xmin), float(ymin), float(xmax), float(ymax)


def _items(text: str) -> tuple[str, ...]:
    return tuple(text.split(",")) if text else ()
