"""DIR/index.parquet: one GeoParquet 1.1 row per chip, footprints in EPSG:4326; and DIR/index.gpkg, the same
rows and columns as a GeoPackage with the image's banner, for GIS desktops whose GDAL has no Parquet driver
(Debian 12's: see tiling.geopackage).

The file is written with pyarrow and shapely alone: importing pandas and geopandas would cost a tiling run a
noticeable share of its CPU to build a table of a few hundred rows. What geopandas would
add is the ``geo`` metadata (written here to the GeoParquet 1.1 specification: WKB encoding, the CRS as
PROJJSON, the geometry types, the bounding box and the per-row ``bbox`` covering column); a test reads the
file back with geopandas and compares it with geopandas' own output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imagery.footprint import window_footprints
from tiling.atomic import atomic_path
from tiling.libraries import import_arrow
from tiling.records import ChipRecord
from tiling.windows import ChipWindow

INDEX_NAME = "index.parquet"
GEOPACKAGE_INDEX_NAME = "index.gpkg"
INDEX_LAYER = "chips"
GEOPARQUET_VERSION = "1.1.0"
INDEX_CRS = "EPSG:4326"
#: (column, pyarrow type name) of the chip attributes, in file order; geometry and bbox come last.
COLUMNS = (
    ("chip_id", "large_string"),
    ("path", "large_string"),
    ("preview_path", "large_string"),
    ("row_off", "int64"),
    ("col_off", "int64"),
    ("width", "int32"),
    ("height", "int32"),
    ("valid_fraction", "float64"),
)


#: Chip footprints in EPSG:4326 by the window's (row_off, col_off).
Footprints = dict[tuple[int, int], Any]


def chip_footprints(transform: tuple[float, ...], crs_wkt: str, windows: Sequence[ChipWindow]) -> Footprints:
    """The footprints of ``windows``: what the index needs of the grid alone, so it can be computed while the
    chips are written (in a thread) and the index written the moment the last chip is. Also loads the
    libraries :func:`write_index` uses."""
    from affine import Affine

    import_arrow()

    shapes = window_footprints(
        Affine(*transform[:6]), crs_wkt, [(w.col_off, w.row_off, w.width, w.height) for w in windows]
    )
    return {(w.row_off, w.col_off): shape for w, shape in zip(windows, shapes, strict=True)}


def portable_projjson(crs: Any) -> dict[str, Any]:
    """The CRS as PROJJSON without ids on datum-ensemble members: older PROJ releases reject member ids their
    database lacks (as GDAL and geopandas write it, opengeospatial/geoparquet discussion 110)."""
    projjson: dict[str, Any] = crs.to_json_dict()
    for member in projjson.get("datum_ensemble", {}).get("members", []):
        member.pop("id", None)
    return projjson


def numeric_array(values: Any, kind: str) -> Any:
    """A pyarrow array of ``kind`` (a NumPy type name) over the values' bytes.

    Arrays are built from buffers, not with ``pyarrow.array``, which imports pandas to check whether
    its input is a pandas object.
    """
    import numpy as np
    import pyarrow as pa

    data = np.ascontiguousarray(values, dtype=kind)
    return pa.Array.from_buffers(pa.from_numpy_dtype(data.dtype), len(data), [None, pa.py_buffer(data)])


def bytes_array(values: list[bytes], kind: Any) -> Any:
    """A pyarrow binary or string array of ``kind`` (32- or 64-bit offsets) holding ``values``."""
    import numpy as np
    import pyarrow as pa

    large = kind in (pa.large_string(), pa.large_binary())
    offsets = np.zeros(len(values) + 1, np.int64 if large else np.int32)
    np.cumsum([len(value) for value in values], out=offsets[1:])
    return pa.Array.from_buffers(
        kind, len(values), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(values))]
    )


def geo_metadata(geometries: Any, crs_projjson: dict[str, Any]) -> dict[str, Any]:
    """The GeoParquet ``geo`` file metadata for one WKB geometry column with a ``bbox`` covering column."""
    import shapely

    bounds = shapely.total_bounds(geometries).tolist() if len(geometries) else []
    column: dict[str, Any] = {
        "encoding": "WKB",
        "crs": crs_projjson,
        "geometry_types": sorted({geometry.geom_type for geometry in geometries}),
        "covering": {"bbox": {key: ["bbox", key] for key in ("xmin", "ymin", "xmax", "ymax")}},
    }
    if bounds:
        column["bbox"] = bounds
    return {"version": GEOPARQUET_VERSION, "primary_column": "geometry", "columns": {"geometry": column}}


def write_index(
    out_dir: Path,
    records: Sequence[ChipRecord],
    *,
    transform: tuple[float, ...],
    crs_wkt: str,
    image_sha256: str,
    marking: str | None,
    footprints: Footprints | None = None,
) -> Path:
    """Write the index of the written chips, ordered by (row_off, col_off), atomically; ``footprints`` are
    the chips' from :func:`chip_footprints`, computed here when not given."""
    # Imported here, not at module level: every `geo-label` command imports the tiling package.
    import_arrow()
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely
    from pyproj import CRS

    written = sorted((r for r in records if r.written), key=lambda r: (r.row_off, r.col_off))
    if footprints is None:
        windows = [ChipWindow(r.row_off, r.col_off, r.height, r.width) for r in written]
        footprints = chip_footprints(transform, crs_wkt, windows)
    geometries = np.empty(len(written), dtype=object)
    geometries[:] = [footprints[r.row_off, r.col_off] for r in written]
    crs = portable_projjson(CRS.from_user_input(INDEX_CRS))
    bounds = shapely.bounds(geometries) if len(geometries) else np.empty((0, 4))
    columns: dict[str, pa.Array] = {
        name: numeric_array([getattr(r, name) for r in written], kind)
        if kind != "large_string"
        else bytes_array([getattr(r, name).encode() for r in written], pa.large_string())
        for name, kind in COLUMNS
    }
    columns["image_sha256"] = bytes_array([image_sha256.encode()] * len(written), pa.large_string())
    columns["marking"] = (
        bytes_array([marking.encode()] * len(written), pa.large_string())
        if marking is not None
        else pa.nulls(len(written), pa.large_string())
    )
    columns["geometry"] = bytes_array(list(shapely.to_wkb(geometries)), pa.binary())
    columns["bbox"] = pa.StructArray.from_arrays(
        [numeric_array(bounds[:, i], "float64") for i in range(4)], names=["xmin", "ymin", "xmax", "ymax"]
    )
    geometry_field = pa.field(
        "geometry",
        pa.binary(),
        metadata={
            "ARROW:extension:name": "geoarrow.wkb",
            "ARROW:extension:metadata": json.dumps({"crs": crs}),
        },
    )
    fields = [geometry_field if name == "geometry" else pa.field(name, a.type) for name, a in columns.items()]
    schema = pa.schema(fields, metadata={"geo": json.dumps(geo_metadata(geometries, crs))})
    table = pa.Table.from_arrays(list(columns.values()), schema=schema)
    final = out_dir / INDEX_NAME
    with atomic_path(final) as temp:
        pq.write_table(table, temp, compression="zstd")
    # A footprint across the antimeridian is a MultiPolygon: a Polygon layer may not hold it.
    kind = "Polygon" if all(shape.geom_type == "Polygon" for shape in geometries) else "Unknown"
    write_geopackage_index(out_dir / GEOPACKAGE_INDEX_NAME, table.drop_columns(["bbox"]), kind, marking)
    return final


def write_geopackage_index(final: Path, table: Any, geometry_type: str, marking: str | None) -> None:
    """The index as a GeoPackage (no ``bbox`` column: the GeoPackage has its own spatial index), atomically,
    the image's banner in its metadata; the same bytes from the same chips (its time stamps fixed)."""
    from tiling.geopackage import copy_canonical, finish, write_arrow

    with atomic_path(final) as temp:
        staged = temp.with_name(temp.name + ".gpkg")  # GDAL wants the extension
        try:
            write_arrow(table, staged, layer=INDEX_LAYER, geometry_type=geometry_type)
            finish(staged, layer=INDEX_LAYER, banner=marking, fixed_time=True)
            copy_canonical(staged, temp)
        finally:
            staged.unlink(missing_ok=True)
