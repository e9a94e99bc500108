"""GeoPackage export (issue 22): the same features and columns as the GeoParquet export, for the GDAL and
QGIS that Debian 12 ships (no Parquet driver there), and the NSG's own exchange format.

One layer, ``labels``, in EPSG:4326: a row per feature with its portion ``marking`` and ``marking_banner``;
``attributes`` and ``merged_from`` as JSON text (a GeoPackage column holds no list). The batches stream from
the database into GDAL (memory stays flat); the file's banner, the roll-up of exactly the rows written, goes
into ``gpkg_metadata`` once the last row is known (``tiling.geopackage``). SQLite needs a file it can seek
in, so the GeoPackage is built in a private folder under ``spool_dir`` (classified content: the data
volume, not a shared /tmp) and then copied to ``out``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO, Final

import orjson
import pyarrow as pa

from access_control import MarkingRegistry, roll_up
from geo_label.export.geojson import ExportFeature, ExportHeader, ExportSummary
from geo_label.export.geoparquet import SCHEMA, BatchSummary, HashingWriter, feature_batches
from tiling.geopackage import finish, write_arrow

LAYER: Final = "labels"
#: SCHEMA with the list column as JSON text.
GEOPACKAGE_SCHEMA: Final = SCHEMA.set(
    SCHEMA.get_field_index("merged_from"), pa.field("merged_from", pa.string())
)


def _as_rows(batch: pa.RecordBatch) -> pa.RecordBatch:
    merged_from = [orjson.dumps(parts).decode() for parts in batch.column("merged_from").to_pylist()]
    index = SCHEMA.get_field_index("merged_from")
    return batch.set_column(index, "merged_from", pa.array(merged_from, pa.string()))


def write_geopackage(
    rows: Iterable[Any],
    merged: Iterable[ExportFeature],
    header: ExportHeader,
    out: BinaryIO,
    *,
    spool_dir: Path | None,
    registry: MarkingRegistry | None = None,
) -> ExportSummary:
    """Write the export's ``rows`` and ``merged`` features (``geoparquet.feature_batches``) to ``out`` as a
    GeoPackage with the banner in its metadata."""
    summary = BatchSummary()
    batches = map(_as_rows, feature_batches(rows, merged, header, summary, registry))
    with tempfile.TemporaryDirectory(dir=spool_dir, prefix="export-gpkg-") as folder:
        path = Path(folder) / f"{LAYER}.gpkg"
        reader = pa.RecordBatchReader.from_batches(GEOPACKAGE_SCHEMA, batches)
        write_arrow(reader, path, layer=LAYER, geometry_type="Unknown")
        finish(path, layer=LAYER, banner=roll_up(summary.markings).banner())
        sink = HashingWriter(out)
        with path.open("rb") as built:
            shutil.copyfileobj(built, sink)
    out.flush()
    return summary.result(sink)
