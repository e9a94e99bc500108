"""GeoParquet 1.1 export: the same features as the GeoJSON export, as columns that geopandas, GDAL (3.8 and
newer) and Arrow-based pipelines read without parsing text.

One row per feature: the GeoJSON export's properties as typed columns (``attributes`` as JSON text, since
each class has its own), ``merged_from`` (a list, empty unless merged), the portion ``marking`` and its
``marking_banner``, and ``geometry`` as ISO WKB in OGC:CRS84 (lon, lat). Rows are written in batches as they
come (memory stays flat); the file's key-value metadata holds GeoParquet's ``geo`` (with the bbox and
geometry types of what was written) and ``geolabel:banner``, the roll-up of exactly the rows, added when the
last row is known.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Final

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from access_control import Marking, MarkingRegistry, releasable_to, roll_up
from geo_label.export.geojson import ExportError, ExportFeature, ExportHeader, ExportSummary
from geo_label.markings import marking_of_values

ROWS_PER_BATCH: Final = 10_000
TIMESTAMP = pa.timestamp("us", tz="UTC")
SCHEMA: Final = pa.schema(
    [
        ("id", pa.string()),
        ("class", pa.string()),
        ("attributes", pa.string()),
        ("status", pa.string()),
        ("source", pa.string()),
        ("confidence", pa.float64()),
        ("suggested_by", pa.string()),
        ("suggestion_edited", pa.bool_()),
        ("version", pa.int32()),
        ("image_id", pa.string()),
        ("chip_id", pa.string()),
        ("acquired_at", TIMESTAMP),
        ("sensor", pa.string()),
        ("labeler", pa.string()),
        ("reviewer", pa.string()),
        ("created_at", TIMESTAMP),
        ("updated_at", TIMESTAMP),
        ("merged_from", pa.list_(pa.string())),
        ("marking", pa.string()),
        ("marking_banner", pa.string()),
        ("geometry", pa.binary()),
    ]
)
#: The export's property names and the columns they go to.
_COLUMNS: Final = tuple(
    name for name in SCHEMA.names if name not in ("marking", "marking_banner", "geometry")
)


@dataclass
class BatchSummary:
    """What the batches held: their markings, geometry types, box and count."""

    markings: set[Marking] = field(default_factory=set)
    types: set[str] = field(default_factory=set)
    #: xmin, ymin, xmax, ymax of everything so far (inf while nothing has a geometry)
    box: list[float] = field(default_factory=lambda: [math.inf, math.inf, -math.inf, -math.inf])
    count: int = 0

    def bbox(self) -> tuple[float, float, float, float] | None:
        xmin, ymin, xmax, ymax = self.box
        return None if xmin > xmax else (xmin, ymin, xmax, ymax)

    def result(self, sink: HashingWriter) -> ExportSummary:
        """The export's summary once every batch went through ``sink``."""
        return ExportSummary(
            count=self.count,
            banner=roll_up(self.markings),
            bbox=self.bbox(),
            bytes_written=sink.written,
            sha256=sink.digest.hexdigest(),
        )


class HashingWriter:
    """Counts and hashes what passes to ``out``."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.digest = hashlib.sha256()
        self.written = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.written += len(data)
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()

    @property
    def closed(self) -> bool:
        return False


def feature_batches(
    rows: Iterable[Any],
    merged: Iterable[ExportFeature],
    header: ExportHeader,
    summary: BatchSummary,
    registry: MarkingRegistry | None = None,
) -> Iterator[pa.RecordBatch]:
    """The export's database ``rows`` (the columns of :func:`geo_label.exporting.export_rows`) and the
    ``merged`` features as record batches of :data:`SCHEMA`, tallied in ``summary`` as they go; each
    distinct marking is checked against the recipient."""
    checked: dict[tuple[Any, ...], Marking] = {}

    def marking_of_row(row: Any) -> Marking:
        key = (row.classification, tuple(row.sci_controls), tuple(row.dissemination), tuple(row.rel_to))
        marking = checked.get(key)
        if marking is None:
            marking = checked[key] = _checked(marking_of_values(*key), header.recipient, registry)
        return marking

    from_rows = (
        (_row_properties(r), marking_of_row(r), shapely.from_wkb(bytes(r.geometry.data))) for r in rows
    )
    from_merged = (
        ({"id": f.id, **f.properties}, _checked(f.marking, header.recipient, registry), f.geometry)
        for f in merged
    )
    records: list[tuple[dict[str, Any], Marking, Any]] = []
    for record in itertools.chain(from_rows, from_merged):
        records.append(record)
        if len(records) >= ROWS_PER_BATCH:
            yield _batch(records, summary)
            records = []
    if records:
        yield _batch(records, summary)


def write_geoparquet(
    rows: Iterable[Any],
    merged: Iterable[ExportFeature],
    header: ExportHeader,
    out: BinaryIO,
    *,
    registry: MarkingRegistry | None = None,
) -> ExportSummary:
    """Write the export's ``rows`` and ``merged`` features (:func:`feature_batches`) to ``out`` as
    GeoParquet."""
    summary = BatchSummary()
    sink = HashingWriter(out)
    writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), SCHEMA, compression="zstd")
    try:
        for batch in feature_batches(rows, merged, header, summary, registry):
            writer.write_batch(batch)
        writer.add_key_value_metadata(_metadata(summary))
    finally:
        writer.close()
    out.flush()
    return summary.result(sink)


def _checked(marking: Marking, recipient: str | None, registry: MarkingRegistry | None) -> Marking:
    if recipient is not None and not releasable_to(marking, recipient, registry):
        raise ExportError(
            f"a feature marked {marking.banner()} is not releasable to {recipient}; the export's access "
            "filter should have left it out"
        )
    return marking


def _row_properties(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "class": row.label_class,
        "attributes": row.attributes,
        "status": row.status,
        "source": row.source,
        "confidence": row.confidence,
        "suggested_by": row.suggested_by,
        "suggestion_edited": row.suggestion_edited,
        "version": row.version,
        "image_id": str(row.image_id),
        "chip_id": str(row.chip_id),
        "acquired_at": row.acquired_at,
        "sensor": row.sensor,
        "labeler": row.labeler,
        "reviewer": row.reviewer,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _batch(records: list[tuple[dict[str, Any], Marking, Any]], summary: BatchSummary) -> pa.RecordBatch:
    geometries = [geometry for _, _, geometry in records]
    columns: dict[str, list[Any]] = {name: [] for name in _COLUMNS}
    for properties, _, _ in records:
        for name in _COLUMNS:
            value = properties.get(name)
            if name == "attributes":
                value = orjson.dumps(value or {}, option=orjson.OPT_SORT_KEYS).decode()
            elif name == "merged_from":
                value = value or []
            elif isinstance(value, datetime) or value is None:
                pass
            columns[name].append(value)
    markings = [marking for _, marking, _ in records]
    summary.markings.update(markings)
    summary.types.update(geometry.geom_type for geometry in geometries)
    bounds = shapely.bounds(geometries)
    if len(bounds) and not np.isnan(bounds).all():
        low, high = np.nanmin(bounds[:, :2], axis=0), np.nanmax(bounds[:, 2:], axis=0)
        box = summary.box
        summary.box = [
            float(min(box[0], low[0])),
            float(min(box[1], low[1])),
            float(max(box[2], high[0])),
            float(max(box[3], high[1])),
        ]
    summary.count += len(records)
    return pa.RecordBatch.from_pydict(
        {
            **columns,
            "marking": [marking.portion() for marking in markings],
            "marking_banner": [marking.banner() for marking in markings],
            "geometry": shapely.to_wkb(geometries, include_srid=False, flavor="iso").tolist(),
        },
        schema=SCHEMA,
    )


def _metadata(summary: BatchSummary) -> dict[str, str]:
    bbox = summary.bbox()
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": sorted(summary.types),
                **({"bbox": list(bbox)} if bbox else {}),
            }
        },
    }
    return {"geo": orjson.dumps(geo).decode(), "geolabel:banner": roll_up(summary.markings).banner()}
