"""RFC 7946 geometry in the export: the antimeridian, ring orientation, rounding without invalid or collapsed
rings, coordinate ranges, the third dimension and the bbox."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pytest
import shapely
from shapely.geometry import (
    GeometryCollection,
    LinearRing,
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
    box,
    shape,
)
from shapely.geometry.base import BaseGeometry

from access_control import parse_marking
from geo_label.export.geojson import (
    GEOJSON_FORMATS,
    ExportError,
    ExportFeature,
    ExportFormat,
    ExportHeader,
    write_export,
)
from geo_label.export.geometry import BBoxAccumulator, normalize_geometries

HEADER = ExportHeader("p", datetime(2024, 5, 1, tzinfo=UTC), "alice", None)
UNCLASSIFIED = parse_marking("UNCLASSIFIED")


def export_one(
    tmp_path: Path, geometry: BaseGeometry, precision: int = 7, fmt: ExportFormat = ExportFormat.GEOJSON
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the FeatureCollection's members, the written geometry object)."""
    path = tmp_path / ("one.geojson" if fmt is ExportFormat.GEOJSON else "one.geojsons")
    with path.open("wb") as out:
        write_export([ExportFeature("f1", geometry, UNCLASSIFIED, {})], HEADER, out, fmt, precision=precision)
    if fmt is ExportFormat.GEOJSONSEQ:
        header, record = (json.loads(text) for text in path.read_bytes().split(b"\x1e")[1:])
        return header, record["geometry"]
    document = json.loads(path.read_bytes())
    geometry_object: dict[str, Any] | None = document["features"][0]["geometry"]
    return document, geometry_object


def normalized(geometry: BaseGeometry, precision: int = 7) -> BaseGeometry:
    (result,) = normalize_geometries([geometry], ["f1"], precision)
    assert result is not None
    return result


def polygons_of(geometry: BaseGeometry) -> list[Polygon]:
    return [part for part in shapely.get_parts(geometry).tolist() if isinstance(part, Polygon)]


def assert_rfc7946(geometry: BaseGeometry) -> None:
    """Valid, in range, exterior rings counter-clockwise and holes clockwise."""
    assert geometry.is_valid, shapely.is_valid_reason(geometry)
    coords = shapely.get_coordinates(geometry)
    assert (np.abs(coords[:, 0]) <= 180).all() and (np.abs(coords[:, 1]) <= 90).all()
    for polygon in polygons_of(geometry):
        assert polygon.exterior.is_ccw
        assert not any(hole.is_ccw for hole in polygon.interiors)


def shifted_east(geometry: BaseGeometry) -> BaseGeometry:
    """Parts west of 0 moved by +360, to compare an antimeridian split with its continuous original."""
    parts = shapely.get_parts(geometry)
    moved = [shapely.affinity.translate(p, xoff=360) if p.bounds[2] <= 0 else p for p in parts]
    return shapely.union_all(moved)


# --- antimeridian -------------------------------------------------------------------------------------------

CONTINUOUS = Polygon([(179.5, 0), (180.5, 0), (180.5, 1), (179.5, 1)])
WRAPPED = Polygon([(179.5, 0), (-179.5, 0), (-179.5, 1), (179.5, 1)])
WRAPPED_CW = Polygon([(179.5, 0), (179.5, 1), (-179.5, 1), (-179.5, 0)])


@pytest.mark.parametrize(
    "polygon", [CONTINUOUS, WRAPPED, WRAPPED_CW], ids=["continuous", "wrapped", "wrapped-cw"]
)
def test_polygon_across_the_antimeridian_is_split(tmp_path: Path, polygon: Polygon) -> None:
    document, written = export_one(tmp_path, polygon)
    assert written is not None and written["type"] == "MultiPolygon"
    geometry = shape(written)
    assert isinstance(geometry, MultiPolygon) and len(geometry.geoms) == 2
    assert_rfc7946(geometry)
    east, west = sorted(geometry.geoms, key=lambda p: -p.bounds[0])
    assert east.bounds == pytest.approx((179.5, 0, 180, 1))
    assert west.bounds == pytest.approx((-180, 0, -179.5, 1))
    assert geometry.area == pytest.approx(CONTINUOUS.area)
    # RFC 7946 section 5.2: a bbox across the antimeridian has west > east.
    assert document["bbox"] == [179.5, 0.0, -179.5, 1.0]


def test_gdal_reads_the_split_polygon(tmp_path: Path) -> None:
    path = tmp_path / "split.geojson"
    with path.open("wb") as out:
        write_export([ExportFeature("f1", CONTINUOUS, UNCLASSIFIED, {})], HEADER, out, ExportFormat.GEOJSON)
    frame = pyogrio.read_dataframe(path)
    geometry = frame.geometry.iloc[0]
    assert geometry.geom_type == "MultiPolygon" and geometry.is_valid
    assert geometry.area == pytest.approx(1.0)
    assert shifted_east(geometry).equals(CONTINUOUS)


@pytest.mark.parametrize(
    "line",
    [LineString([(179.5, 0), (180.5, 1)]), LineString([(179.5, 0), (-179.5, 1)])],
    ids=["continuous", "wrapped"],
)
def test_line_across_the_antimeridian_is_split(tmp_path: Path, line: LineString) -> None:
    document, written = export_one(tmp_path, line)
    assert written == {
        "type": "MultiLineString",
        "coordinates": [[[179.5, 0.0], [180.0, 0.5]], [[-180.0, 0.5], [-179.5, 1.0]]],
    }
    assert document["bbox"] == [179.5, 0.0, -179.5, 1.0]


def test_multilinestring_across_the_antimeridian_is_split() -> None:
    lines = MultiLineString([[(170, 0), (171, 0)], [(179, 5), (-179, 5)]])
    result = normalized(lines)
    assert isinstance(result, MultiLineString) and len(result.geoms) == 3
    assert result.length == pytest.approx(3.0)


def test_polygon_with_a_hole_across_the_antimeridian() -> None:
    polygon = Polygon(
        [(179, 0), (181, 0), (181, 2), (179, 2)], [[(179.5, 0.5), (179.5, 1.5), (180.5, 1.5), (180.5, 0.5)]]
    )
    result = normalized(polygon)
    assert isinstance(result, MultiPolygon)
    assert_rfc7946(result)
    assert result.area == pytest.approx(polygon.area)
    assert shifted_east(result).equals(polygon)


# Found by the property test: the antimeridian package dropped this hole, which itself crosses 180 degrees,
# when the exterior was given clockwise.
HOLE_ACROSS_180 = shapely.from_wkt(
    "POLYGON ((182.60170286650367 -2.7941549819892586, 168.83853163452858 9.092974268256818, 183 0, "
    "182.60170286650367 -2.7941549819892586), (179.92872804680792 0.1421018644578083, "
    "174.42345955401788 4.896953564556239, 180.08804690020645 1.2597638572535117, "
    "179.92872804680792 0.1421018644578083))"
)


@pytest.mark.parametrize("reverse", [False, True], ids=["as-found", "reversed"])
def test_hole_across_the_antimeridian_is_kept(reverse: bool) -> None:
    polygon = HOLE_ACROSS_180
    assert isinstance(polygon, Polygon)
    if reverse:
        polygon = Polygon(polygon.exterior.coords[::-1], [r.coords[::-1] for r in polygon.interiors])
    result = normalized(polygon)
    assert isinstance(result, MultiPolygon)
    assert_rfc7946(result)
    assert result.area == pytest.approx(polygon.area, abs=1e-5)
    assert shifted_east(result).symmetric_difference(polygon).area < 1e-5


def test_line_crossing_several_times() -> None:
    zigzag = LineString([(179, 0), (-179, 1), (179, 2), (-179, 3)])
    result = normalized(zigzag)
    assert isinstance(result, MultiLineString) and len(result.geoms) == 4
    assert result.length == pytest.approx(LineString([(179, 0), (181, 1), (179, 2), (181, 3)]).length)
    assert_rfc7946(result)


def test_polygon_around_a_pole_is_refused() -> None:
    cap = Polygon([(0, 80), (90, 80), (180, 80), (-90, 80), (0, 80)])
    with pytest.raises(ExportError, match="pole"):
        normalized(cap)


def test_multipolygon_already_split_is_kept() -> None:
    split = MultiPolygon([box(179.5, 0, 180, 1), box(-180, 0, -179.5, 1)])
    result = normalized(split)
    assert_rfc7946(result)
    assert result.equals(split)


def test_geometry_beyond_180_is_wrapped() -> None:
    polygon = Polygon(
        [(181, 0), (183, 0), (183, 2), (181, 2)], [[(181.5, 0.5), (181.5, 1.5), (182.5, 1.5), (182.5, 0.5)]]
    )
    result = normalized(polygon)
    assert isinstance(result, Polygon)
    assert_rfc7946(result)
    assert result.equals(shapely.affinity.translate(polygon, xoff=-360))


def test_points_are_only_wrapped() -> None:
    assert normalized(Point(181.25, 10)).equals(Point(-178.75, 10))
    assert normalized(Point(180, 10)).equals(Point(180, 10))
    assert normalized(Point(-180, 10)).equals(Point(-180, 10))
    points = MultiPoint([(179, 0), (-179, 0)])  # wide but points: nothing to split
    assert normalized(points).equals(points)


def test_wide_polygon_that_does_not_cross_is_kept() -> None:
    # Every edge is shorter than 180 degrees, so it does not cross the antimeridian.
    wide = Polygon([(-100, 0), (0, -1), (100, 0), (0, 1)])
    assert normalized(wide).equals(wide)


# --- orientation --------------------------------------------------------------------------------------------


def test_rings_are_oriented_per_rfc7946(tmp_path: Path) -> None:
    exterior_cw = [(0, 0), (0, 2), (2, 2), (2, 0)]
    hole_ccw = [(0.5, 0.5), (1.5, 0.5), (1.5, 1.5), (0.5, 1.5)]
    polygon = Polygon(exterior_cw, [hole_ccw])
    assert not polygon.exterior.is_ccw and polygon.interiors[0].is_ccw
    for geometry in (polygon, MultiPolygon([polygon, box(5, 5, 6, 6, ccw=False)])):
        _, written = export_one(tmp_path, geometry)
        assert written is not None
        result = shape(written)
        assert_rfc7946(result)
        assert result.equals(geometry)
        for part in polygons_of(result):
            assert LinearRing(part.exterior.coords).is_ccw


# --- rounding -----------------------------------------------------------------------------------------------


def test_rounding_drops_repeated_points() -> None:
    polygon = Polygon([(0, 0), (1, 0), (1.00000001, 0.00000001), (1, 1), (0, 1)])
    result = normalized(polygon)
    assert isinstance(result, Polygon)
    assert len(result.exterior.coords) == 5
    assert_rfc7946(result)
    line = LineString([(0, 0), (0.00000001, 0), (1, 1), (1, 1.00000002)])
    assert list(normalized(line).coords) == [(0.0, 0.0), (1.0, 1.0)]


def test_rounding_that_would_make_a_ring_invalid_is_snapped_to_a_valid_one() -> None:
    # A spike narrower than the grid: plain rounding folds it onto the edge below (a self-intersection).
    polygon = Polygon(
        [(0, 0), (1, 0), (1, 1), (0.5000000001, 1), (0.5, 0.00000003), (0.4999999999, 1), (0, 1)]
    )
    assert polygon.is_valid
    rounded = shapely.transform(polygon, lambda c: np.round(c, 7))
    assert not rounded.is_valid
    result = normalized(polygon)
    assert_rfc7946(result)
    assert result.area == pytest.approx(1.0, abs=1e-6)


def test_rounding_that_merges_parts_keeps_the_multipolygon_valid() -> None:
    parts = MultiPolygon([box(0, 0, 1, 1), box(1.00000001, 0, 2, 1)])
    assert parts.is_valid
    result = normalized(parts)
    assert_rfc7946(result)
    assert result.area == pytest.approx(2.0, abs=1e-6)


def test_invalid_input_is_repaired() -> None:
    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    result = normalized(bowtie)
    assert_rfc7946(result)
    assert result.area == pytest.approx(0.5)


@pytest.mark.parametrize(
    "geometry",
    [
        box(10, 10, 10.00000001, 10.00000001),
        Polygon([(0, 0), (1, 0), (1, 0.00000001)]),
        LineString([(5, 5), (5.00000001, 5.00000001)]),
    ],
    ids=["tiny-polygon", "sliver", "short-line"],
)
def test_geometry_that_collapses_is_an_error(tmp_path: Path, geometry: BaseGeometry) -> None:
    with pytest.raises(ExportError, match=r"'f1'.*collapses when rounded to 7 decimals"):
        export_one(tmp_path, geometry)
    # With more decimals it is fine.
    assert normalized(geometry, precision=9).is_valid


def test_coordinates_are_rounded_and_written_short(tmp_path: Path) -> None:
    _, written = export_one(tmp_path, Point(12.345678949, -45.000000051))
    assert written == {"type": "Point", "coordinates": [12.3456789, -45.0000001]}
    _, written = export_one(tmp_path, Point(12.345678949, -45.000000051), precision=0)
    assert written == {"type": "Point", "coordinates": [12.0, -45.0]}


# --- dimensions, types, ranges ----------------------------------------------------------------------------


def test_third_dimension_only_when_present(tmp_path: Path) -> None:
    _, flat = export_one(tmp_path, LineString([(0, 0), (1, 1)]))
    assert flat is not None and all(len(p) == 2 for p in flat["coordinates"])
    _, tall = export_one(tmp_path, LineString([(0, 0, 10.123456789), (1, 1, 20)]))
    assert tall == {"type": "LineString", "coordinates": [[0.0, 0.0, 10.1234568], [1.0, 1.0, 20.0]]}
    mixed = normalize_geometries([Point(1, 2), Point(1, 2, 3), box(0, 0, 1, 1)], ["a", "b", "c"], 7)
    assert [g is not None and g.has_z for g in mixed] == [False, True, False]


def test_every_geometry_type(tmp_path: Path) -> None:
    geometries = {
        "Point": Point(1, 2),
        "MultiPoint": MultiPoint([(1, 2), (3, 4)]),
        "LineString": LineString([(0, 0), (1, 1)]),
        "MultiLineString": MultiLineString([[(0, 0), (1, 1)], [(2, 2), (3, 3)]]),
        "Polygon": box(0, 0, 1, 1),
        "MultiPolygon": MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)]),
    }
    for fmt in GEOJSON_FORMATS:
        path = tmp_path / f"types.{fmt.value}"
        with path.open("wb") as out:
            features = [ExportFeature(k, g, UNCLASSIFIED, {}) for k, g in geometries.items()]
            write_export(features, HEADER, out, fmt)
        frame = pyogrio.read_dataframe(path)
        assert list(frame["id"]) == list(geometries)
        for kind, got in zip(frame["id"], frame.geometry, strict=True):
            assert got.geom_type == kind
            assert got.equals(geometries[kind])


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (GeometryCollection([Point(0, 0)]), "GEOMETRYCOLLECTION is not exported"),
        (LinearRing([(0, 0), (1, 0), (1, 1)]), "LINEARRING is not exported"),
        (Point(0, math.nan), "non-finite"),
        (LineString([(0, 0, 0), (1, 1, math.inf)]), "non-finite z"),
        (Point(10, 95), "not a longitude and latitude"),
        (box(500000, 4000000, 500100, 4000100), "EPSG:4326"),
        ("POINT (0 0)", "not a shapely geometry"),
    ],
)
def test_unexportable_geometries_are_refused(geometry: Any, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        normalize_geometries([Point(0, 0), geometry], ["ok", "bad"], 7)


def test_empty_geometry_is_null() -> None:
    assert normalize_geometries([Polygon(), Point(1, 1), LineString()], ["a", "b", "c"], 7)[::2] == [
        None,
        None,
    ]


# --- bbox ---------------------------------------------------------------------------------------------------


def bbox_of(*parts: tuple[float, float, float, float]) -> tuple[float, float, float, float] | None:
    accumulator = BBoxAccumulator()
    for part in parts:
        accumulator.add(np.array([part], dtype=float))
    return accumulator.result()


def test_bbox_accumulator() -> None:
    assert bbox_of() is None
    assert bbox_of((1, 2, 3, 4)) == (1, 2, 3, 4)
    assert bbox_of((1, 2, 3, 4), (-10.5, -1, -10, 0)) == (-10.5, -1, 3, 4)
    # Split at the antimeridian: west > east.
    assert bbox_of((179.5, 0, 180, 1), (-180, 0, -179.5, 1)) == (179.5, 0, -179.5, 1)
    assert bbox_of((170, 0, 171, 1), (-171, 0, -170, 1)) == (170, 0, -170, 1)
    # Clusters whose widest gap (10.5 .. 179.5) is neither the one across 180 nor the one across 0.
    assert bbox_of((-20, 0, -19.5, 1), (10, 0, 10.5, 1), (179.5, 0, 180, 1), (-180, 0, -179.5, 1)) == (
        179.5,
        0,
        10.5,
        1,
    )
    # Points on the antimeridian, and a part that spans many bins.
    assert bbox_of((180, 5, 180, 5), (-180, 6, -180, 6)) == (-180, 5, 180, 6)
    # Crossing boxes that start or end on it: numerically they hold both 180 and -180.
    assert bbox_of((180, 5, 180, 5), (-180, 6, -170, 7)) == (180, 5, -170, 7)
    assert bbox_of((170, 5, 180, 6), (-180, 6, -180, 7)) == (170, 5, -180, 7)
    assert bbox_of((-120.25, 0, 100.75, 1)) == (-120.25, 0, 100.75, 1)
    assert bbox_of((-120.25, 0, 100.75, 1), (150, 0, 151, 1)) == (-120.25, 0, 151, 1)
    # Gaps of equal width: the ordinary box wins.
    assert bbox_of((-90, 0, -90, 0), (90, 0, 90, 0)) == (-90, 0, 90, 0)
    # The whole globe.
    assert bbox_of((-180, -90, 180, 90)) == (-180, -90, 180, 90)


def test_bbox_in_the_file_matches_the_features(tmp_path: Path) -> None:
    path = tmp_path / "bbox.geojson"
    features = [
        ExportFeature("a", box(-10, -5, -9, -4), UNCLASSIFIED, {}),
        ExportFeature("b", CONTINUOUS, UNCLASSIFIED, {}),
        ExportFeature("c", Point(170, 60), UNCLASSIFIED, {}),
    ]
    with path.open("wb") as out:
        summary = write_export(features, HEADER, out, ExportFormat.GEOJSON)
    document = json.loads(path.read_bytes())
    assert document["bbox"] == list(summary.bbox or ()) == [170.0, -5.0, -9.0, 60.0]
