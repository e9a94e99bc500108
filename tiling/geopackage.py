"""GeoPackage files for the analyst's own GIS (issue 22): written by GDAL (through pyogrio), with the file's
banner in ``gpkg_metadata``.

Debian 12's GDAL (3.6), and so its QGIS (3.22), has no Parquet driver: GeoPackage, the OGC format every GDAL
since 2.0 reads and the NSG's own exchange format, is what they open. Files are written as GeoPackage 1.2
(what GDAL 3.6 writes itself) so that those older readers take them without a word.

The banner is written as GDAL writes dataset and layer metadata (a ``GDALMultiDomainMetadata`` document in
``gpkg_metadata``, referenced from ``gpkg_metadata_reference`` with the metadata extension registered): GDAL
then reports it as the dataset's and the layer's ``BANNER`` item (``ogrinfo`` prints it, QGIS shows it in
the layer's properties), and any GeoPackage reader finds it in the standard tables.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

#: The creation options of every GeoPackage GeoLabel writes.
DATASET_OPTIONS = {"VERSION": "1.2"}
LAYER_OPTIONS = {"SPATIAL_INDEX": "YES"}
BANNER_KEY = "BANNER"
GDAL_METADATA_URI = "http://gdal.org"
METADATA_EXTENSION = "http://www.geopackage.org/spec120/#extension_metadata"

_METADATA_TABLES = """
CREATE TABLE IF NOT EXISTS gpkg_metadata (
    id INTEGER CONSTRAINT m_pk PRIMARY KEY ASC NOT NULL,
    md_scope TEXT NOT NULL DEFAULT 'dataset',
    md_standard_uri TEXT NOT NULL,
    mime_type TEXT NOT NULL DEFAULT 'text/xml',
    metadata TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS gpkg_metadata_reference (
    reference_scope TEXT NOT NULL,
    table_name TEXT,
    column_name TEXT,
    row_id_value INTEGER,
    timestamp DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    md_file_id INTEGER NOT NULL,
    md_parent_id INTEGER,
    CONSTRAINT crmr_mfi_fk FOREIGN KEY (md_file_id) REFERENCES gpkg_metadata(id),
    CONSTRAINT crmr_mpi_fk FOREIGN KEY (md_parent_id) REFERENCES gpkg_metadata(id)
);
"""


#: The time stamp of a file that must be the same bytes every time it is written from the same input (the
#: chip index: a resumed or distributed tiling run writes exactly what a local one does).
FIXED_TIME = "2000-01-01T00:00:00.000Z"


def write_arrow(source: Any, path: Path, *, layer: str, geometry_type: str) -> None:
    """Write an Arrow table or record-batch reader with a WKB ``geometry`` column (longitude, latitude) as
    the GeoPackage ``path``'s layer ``layer``, in EPSG:4326 (a GeoPackage stores x, y: longitude first)."""
    import pyogrio

    pyogrio.write_arrow(
        source,
        str(path),
        layer=layer,
        driver="GPKG",
        geometry_name="geometry",
        geometry_type=geometry_type,
        crs="EPSG:4326",
        dataset_options=DATASET_OPTIONS,
        layer_options=LAYER_OPTIONS,
    )


def finish(path: Path, *, layer: str, banner: str | None, fixed_time: bool = False) -> None:
    """Record ``banner`` (if any) as the GeoPackage's and its layer's ``BANNER`` metadata item; with
    ``fixed_time``, every time stamp in the file (the layer's ``last_change``, the metadata's) is
    :data:`FIXED_TIME`, not now."""
    stamp = FIXED_TIME if fixed_time else None
    with closing(sqlite3.connect(path)) as db, db:
        if fixed_time:
            db.execute("UPDATE gpkg_contents SET last_change = ?", (FIXED_TIME,))
        if banner is not None:
            _write_banner(db, banner, layer, stamp)


def _write_banner(db: sqlite3.Connection, banner: str, layer: str, stamp: str | None) -> None:
    document = (
        "<GDALMultiDomainMetadata><Metadata>"
        f'<MDI key="{BANNER_KEY}">{escape(banner)}</MDI>'
        "</Metadata></GDALMultiDomainMetadata>"
    )
    db.executescript(_METADATA_TABLES)
    for table in ("gpkg_metadata", "gpkg_metadata_reference"):
        registered = db.execute(
            "SELECT 1 FROM gpkg_extensions WHERE table_name = ? AND extension_name = 'gpkg_metadata'",
            (table,),
        ).fetchone()
        if registered is None:
            db.execute(
                "INSERT INTO gpkg_extensions "
                "(table_name, column_name, extension_name, definition, scope) "
                "VALUES (?, NULL, 'gpkg_metadata', ?, 'read-write')",
                (table, METADATA_EXTENSION),
            )
    for scope, table_name in (("geopackage", None), ("table", layer)):
        cursor = db.execute(
            "INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, metadata) "
            "VALUES ('dataset', ?, 'text/xml', ?)",
            (GDAL_METADATA_URI, document),
        )
        db.execute(
            "INSERT INTO gpkg_metadata_reference (reference_scope, table_name, md_file_id, timestamp) "
            "VALUES (?, ?, ?, coalesce(?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
            (scope, table_name, cursor.lastrowid, stamp),
        )


def copy_canonical(source: Path, target: Path) -> None:
    """Copy the GeoPackage ``source`` to the new file ``target`` as SQLite's ``VACUUM INTO`` writes it: the
    same content always gives the same bytes. GDAL's own file is not: how many transactions it took to write
    (the header's change counter) varies from run to run, so a resumed or distributed tiling run would write
    an index that differs, in its header only, from a local run's."""
    with closing(sqlite3.connect(source)) as db:
        db.execute("VACUUM INTO ?", (str(target),))


def read_banner(path: Path) -> str | None:
    """The banner :func:`finish` recorded for the whole file, as a GeoPackage reader finds it."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        tables = db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'gpkg_metadata_reference'")
        if tables.fetchone()[0] == 0:
            return None
        row = db.execute(
            "SELECT m.metadata FROM gpkg_metadata m JOIN gpkg_metadata_reference r ON r.md_file_id = m.id "
            "WHERE r.reference_scope = 'geopackage' AND m.md_standard_uri = ? ORDER BY m.id DESC LIMIT 1",
            (GDAL_METADATA_URI,),
        ).fetchone()
    if row is None:
        return None
    from xml.etree import ElementTree

    item = ElementTree.fromstring(row[0]).find(f".//MDI[@key='{BANNER_KEY}']")
    return None if item is None else item.text
