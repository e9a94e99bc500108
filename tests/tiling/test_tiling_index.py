"""index.parquet is valid GeoParquet: what geopandas reads back equals what geopandas itself would write."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
from affine import Affine
from geopandas.testing import assert_geodataframe_equal
from pyproj import CRS

from imagery.footprint import window_footprints
from tiling.geopackage import read_banner
from tiling.index import COLUMNS, GEOPACKAGE_INDEX_NAME, INDEX_LAYER, write_index
from tiling.records import ChipRecord

UTM_33N = CRS.from_epsg(32633).to_wkt()
#: 10 m pixels; the second grid lies across the antimeridian (UTM zone 60 at its eastern edge).
NEAR_NAPLES = (Affine(10.0, 0.0, 399960.0, 0.0, -10.0, 4500000.0), UTM_33N)
ACROSS_ANTIMERIDIAN = (Affine(10.0, 0.0, 820000.0, 0.0, -10.0, 7300000.0), CRS.from_epsg(32660).to_wkt())


def records(count: int, *, skipped: tuple[int, ...] = ()) -> list[ChipRecord]:
    """``count`` chips of 256 px in a row, the ``skipped`` ones not written (given in reverse order, so the
    writer must sort them)."""
    made = []
    for i in reversed(range(count)):
        written = i not in skipped
        made.append(
            ChipRecord(
                chip_id=f"chip-{i}",
                row_off=(i // 4) * 224,
                col_off=(i % 4) * 224,
                width=256,
                height=256,
                valid_fraction=1.0 - i / 100,
                written=written,
                path=f"chips/{i}.tif" if written else None,
                preview_path=f"previews/{i}.jpg" if written else None,
            )
        )
    return made


def geopandas_index(
    chips: list[ChipRecord], transform: Affine, crs_wkt: str, sha: str, marking: str | None
) -> gpd.GeoDataFrame:
    """The index as geopandas would build it from the same records."""
    written = sorted((r for r in chips if r.written), key=lambda r: (r.row_off, r.col_off))
    names = [name for name, _ in COLUMNS]
    frame = pd.DataFrame([{c: getattr(r, c) for c in names} for r in written], columns=names)
    frame = frame.astype({"row_off": "int64", "col_off": "int64", "width": "int32", "height": "int32"})
    frame["image_sha256"] = sha
    frame["marking"] = pd.Series([marking] * len(frame), dtype="str")
    footprints = window_footprints(
        transform, crs_wkt, [(r.col_off, r.row_off, r.width, r.height) for r in written]
    )
    return gpd.GeoDataFrame(frame, geometry=footprints, crs="EPSG:4326")


@pytest.mark.parametrize("grid", [NEAR_NAPLES, ACROSS_ANTIMERIDIAN], ids=["naples", "antimeridian"])
@pytest.mark.parametrize("marking", ["SECRET//REL TO USA, GBR", None])
def test_index_reads_back_as_geopandas_writes_it(
    tmp_path: Path, grid: tuple[Affine, str], marking: str | None
) -> None:
    transform, crs_wkt = grid
    chips = records(12, skipped=(5,))
    path = write_index(
        tmp_path, chips, transform=tuple(transform), crs_wkt=crs_wkt, image_sha256="ab" * 32, marking=marking
    )
    expected = geopandas_index(chips, transform, crs_wkt, "ab" * 32, marking)
    reference = tmp_path / "reference.parquet"
    expected.to_parquet(reference, index=False, write_covering_bbox=True)

    ours = gpd.read_parquet(path)
    assert_geodataframe_equal(ours, gpd.read_parquet(reference), check_less_precise=False)
    assert ours.crs == "EPSG:4326" and len(ours) == 11
    assert ours.chip_id.tolist() == [f"chip-{i}" for i in range(12) if i != 5], "sorted by row, then column"

    geo = json.loads(pq.read_schema(path).metadata[b"geo"])
    want = json.loads(pq.read_schema(reference).metadata[b"geo"])
    assert geo["version"] == want["version"] and geo["primary_column"] == "geometry"
    assert geo["columns"]["geometry"] == want["columns"]["geometry"]


def test_index_of_no_written_chip_is_an_empty_valid_file(tmp_path: Path) -> None:
    transform, crs_wkt = NEAR_NAPLES
    path = write_index(
        tmp_path,
        records(3, skipped=(0, 1, 2)),
        transform=tuple(transform),
        crs_wkt=crs_wkt,
        image_sha256="cd" * 32,
        marking=None,
    )
    index = gpd.read_parquet(path)
    assert len(index) == 0 and index.crs == "EPSG:4326"
    assert list(index.columns) == [*(name for name, _ in COLUMNS), "image_sha256", "marking", "geometry"]


@pytest.mark.parametrize("grid", [NEAR_NAPLES, ACROSS_ANTIMERIDIAN], ids=["naples", "antimeridian"])
@pytest.mark.parametrize("marking", ["SECRET//REL TO USA, GBR", None])
def test_the_geopackage_index_holds_the_same_rows_and_the_banner(
    tmp_path: Path, grid: tuple[Affine, str], marking: str | None
) -> None:
    """index.gpkg for GDAL without a Parquet driver (Debian 12's, issue 22): the rows and columns of
    index.parquet (but the bbox covering, which a GeoPackage's own spatial index replaces)."""
    transform, crs_wkt = grid
    chips = records(12, skipped=(5,))
    parquet = write_index(
        tmp_path, chips, transform=tuple(transform), crs_wkt=crs_wkt, image_sha256="ab" * 32, marking=marking
    )
    gpkg = tmp_path / GEOPACKAGE_INDEX_NAME
    ours = pyogrio.read_dataframe(gpkg, layer=INDEX_LAYER)
    expected = gpd.read_parquet(parquet)  # geopandas leaves the bbox covering column out
    for frame in (ours, expected):  # an unmarked index: None from GDAL, NaN from Arrow
        frame["marking"] = frame["marking"].astype(object).where(frame["marking"].notna(), None)
    assert_geodataframe_equal(ours, expected, check_dtype=False, check_less_precise=True)
    assert ours.crs == "EPSG:4326"
    assert read_banner(gpkg) == marking
    first = gpkg.read_bytes()
    # The same chips again, the same bytes: a resumed or distributed run writes what a local one does.
    write_index(
        tmp_path, chips, transform=tuple(transform), crs_wkt=crs_wkt, image_sha256="ab" * 32, marking=marking
    )
    assert gpkg.read_bytes() == first


def test_the_geopackage_index_is_the_same_bytes_every_time(tmp_path: Path) -> None:
    """Regression (CI, session 12): GDAL takes a varying number of transactions to write a GeoPackage, so
    the header's change counter, and with it the bytes, differed about one write in five."""
    transform, crs_wkt = NEAR_NAPLES
    chips = records(12)
    written = set()
    for _ in range(20):
        write_index(
            tmp_path, chips, transform=tuple(transform), crs_wkt=crs_wkt, image_sha256="ab" * 32, marking=None
        )
        written.add((tmp_path / GEOPACKAGE_INDEX_NAME).read_bytes())
    assert len(written) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staged file left"
