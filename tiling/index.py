"""DIR/index.parquet: one GeoParquet row per chip, footprints in EPSG:4326."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from imagery.footprint import window_footprints
from tiling.atomic import atomic_path
from tiling.records import ChipRecord

INDEX_NAME = "index.parquet"
COLUMNS = ["chip_id", "path", "preview_path", "row_off", "col_off", "width", "height", "valid_fraction"]


def preload_index_libraries() -> None:
    """Import what :func:`write_index` needs ahead of time, e.g. in a thread while the chips are written
    (geopandas and pandas take ~0.4 s). A failure is left for :func:`write_index` to report."""
    try:
        import geopandas  # noqa: F401
        import pandas  # noqa: F401
    except Exception:
        pass


def write_index(
    out_dir: Path,
    records: Sequence[ChipRecord],
    *,
    transform: tuple[float, ...],
    crs_wkt: str,
    image_sha256: str,
    marking: str | None,
) -> Path:
    """Write the index of the written chips, ordered by (row_off, col_off), atomically."""
    # geopandas/pandas are imported here, not at module level: they take ~0.4 s, and every `geo-label` command
    # imports the tiling package.
    import geopandas as gpd
    import pandas as pd
    from affine import Affine

    written = sorted((r for r in records if r.written), key=lambda r: (r.row_off, r.col_off))
    affine = Affine(*transform[:6])
    frame = pd.DataFrame([{c: getattr(r, c) for c in COLUMNS} for r in written], columns=COLUMNS)
    frame = frame.astype({"row_off": "int64", "col_off": "int64", "width": "int32", "height": "int32"})
    frame["image_sha256"] = image_sha256
    frame["marking"] = marking
    geometries = window_footprints(
        affine, crs_wkt, [(r.col_off, r.row_off, r.width, r.height) for r in written]
    )
    index = gpd.GeoDataFrame(frame, geometry=geometries, crs="EPSG:4326")
    final = out_dir / INDEX_NAME
    with atomic_path(final) as temp:
        index.to_parquet(temp, index=False, compression="zstd", write_covering_bbox=True)
    return final
