"""Property tests: random polygons anywhere on the globe, random property values and random sets of parts go
through the writer and come back (through geopandas/GDAL or json) as what was sent."""

from __future__ import annotations

import io
import itertools
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
import shapely.affinity
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPoint, Point, Polygon
from shapely.geometry.base import BaseGeometry

from access_control import parse_marking
from geo_label.export.geojson import GEOJSON_FORMATS, ExportFeature, ExportFormat, ExportHeader, write_export
from geo_label.export.geometry import BBoxAccumulator

HEADER = ExportHeader("p", datetime(2024, 5, 1, tzinfo=UTC), "alice", None)
MARKING = parse_marking("SECRET//REL TO USA, GBR")


@st.composite
def polygons(draw: st.DrawFn) -> Polygon:
    """A convex polygon, sometimes with a hole, centred anywhere (longitudes may run past 180: the
    continuous form of a polygon across the antimeridian), from 10 m to 1000 km across."""
    lon = draw(st.floats(-180, 180))
    lat = draw(st.floats(-80, 80))
    radius = 10 ** draw(st.floats(-4, 1))
    n = draw(st.integers(3, 12))
    angles = draw(st.lists(st.floats(0, 2 * math.pi), min_size=n, max_size=n))
    scales = draw(st.lists(st.floats(0.2, 1), min_size=n, max_size=n))
    points = [
        (lon + radius * s * math.cos(a), lat + radius * s * math.sin(a))
        for a, s in zip(angles, scales, strict=True)
    ]
    hull = MultiPoint(points).convex_hull
    assume(isinstance(hull, Polygon) and hull.area > hull.length * radius * 1e-3)
    assert isinstance(hull, Polygon)
    if draw(st.booleans()):
        hole = shapely.affinity.scale(hull, 0.4, 0.4, origin=hull.centroid)
        hull = Polygon(hull.exterior.coords, [hole.exterior.coords])
    if draw(st.booleans()):
        hull = Polygon(hull.exterior.coords[::-1], [ring.coords[::-1] for ring in hull.interiors])
    return hull


def wrapped(geometry: BaseGeometry) -> BaseGeometry:
    """The same geometry with longitudes wrapped into [-180, 180) (the other way to give a crossing)."""
    return shapely.transform(geometry, lambda c: np.column_stack([(c[:, 0] + 180) % 360 - 180, c[:, 1]]))


def unwrapped_like(written: BaseGeometry, original: BaseGeometry) -> BaseGeometry:
    """Each part moved by the multiple of 360 degrees that brings it next to the original."""
    x = original.centroid.x
    parts = [
        shapely.affinity.translate(part, xoff=360 * round((x - part.centroid.x) / 360))
        for part in shapely.get_parts(written)
    ]
    return shapely.union_all(parts)


def in_bbox(bbox: list[float] | tuple[float, ...], bounds: tuple[float, ...]) -> bool:
    """RFC 7946 section 5.2: west > east means the box crosses the antimeridian."""
    west, south, east, north = bbox
    xmin, ymin, xmax, ymax = bounds
    if not (south <= ymin and ymax <= north):
        return False
    if west <= east:
        return west <= xmin and xmax <= east
    return xmin >= west or xmax <= east


@settings(max_examples=80)
@given(polygon=polygons(), wrap=st.booleans(), fmt=st.sampled_from(list(GEOJSON_FORMATS)))
def test_random_polygons_round_trip_through_geopandas(
    tmp_path_factory: pytest.TempPathFactory, polygon: Polygon, wrap: bool, fmt: ExportFormat
) -> None:
    path = tmp_path_factory.mktemp("polygons") / (
        "p.geojson" if fmt is ExportFormat.GEOJSON else "p.geojsons"
    )
    given_geometry = wrapped(polygon) if wrap else polygon
    with path.open("wb") as out:
        summary = write_export([ExportFeature("f1", given_geometry, MARKING, {})], HEADER, out, fmt)
    frame = gpd.read_file(path)
    assert list(frame["id"]) == ["f1"]
    assert list(frame["marking"]) == ["(S//REL TO USA, GBR)"]
    written = frame.geometry.iloc[0]

    assert written.is_valid, shapely.is_valid_reason(written)
    coords = shapely.get_coordinates(written)
    assert (np.abs(coords[:, 0]) <= 180).all() and (np.abs(coords[:, 1]) <= 90).all()
    assert (np.round(coords, 7) == coords).all()
    parts = list(shapely.get_parts(written))
    for part in parts:
        assert part.exterior.is_ccw
        assert not any(hole.is_ccw for hole in part.interiors)
    # Split at 180 exactly when the (continuous) polygon reaches past it.
    crosses = polygon.bounds[0] < -180 < polygon.bounds[2] or polygon.bounds[0] < 180 < polygon.bounds[2]
    assert (written.geom_type == "MultiPolygon") == crosses

    # The same surface up to rounding: each vertex moves by at most half a unit of the 7th decimal.
    tolerance = 2e-7 * polygon.length + 1e-12
    assert written.area == pytest.approx(polygon.area, abs=tolerance)
    assert unwrapped_like(written, polygon).symmetric_difference(polygon).area <= tolerance

    assert summary.bbox is not None
    assert all(in_bbox(summary.bbox, part.bounds) for part in parts)


def exact_width(intervals: list[tuple[float, float]]) -> float:
    """Longitude width of the smallest arc covering the intervals: 360 minus the widest uncovered gap."""
    ordered = sorted(intervals)
    merged: list[list[float]] = []
    for west, east in ordered:
        if merged and west <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], east)
        else:
            merged.append([west, east])
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(merged)]
    gaps.append(merged[0][0] + 360 - merged[-1][1])
    return 360 - max(gaps)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.floats(-180, 180), st.floats(0, 30), st.floats(-90, 90)).map(
            lambda t: (t[0], min(180.0, t[0] + t[1]), t[2])
        ),
        min_size=1,
        max_size=12,
    )
)
def test_bbox_contains_every_part_and_is_nearly_the_tightest(parts: list[tuple[float, float, float]]) -> None:
    accumulator = BBoxAccumulator()
    rows = np.array([(west, lat, east, lat) for west, east, lat in parts], dtype=float)
    for chunk in np.array_split(rows, 3):
        accumulator.add(chunk)
    bbox = accumulator.result()
    assert bbox is not None
    assert all(in_bbox(bbox, tuple(row)) for row in rows.tolist())
    west, _, east, _ = bbox
    width = east - west if west <= east else east + 360 - west
    # Only a gap lying inside one one-degree bin can be missed, so the box is at most 1 degree too wide.
    assert (
        exact_width([(w, e) for w, e, _ in parts]) - 1e-9
        <= width
        < exact_width([(w, e) for w, e, _ in parts]) + 1
    )


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(timezone(timedelta(hours=-5))),
    )
    | st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def expected(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: expected(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [expected(v) for v in value]
    return value


@settings(max_examples=150)
@given(
    properties=st.dictionaries(
        st.text(max_size=12).filter(lambda k: k not in {"marking", "marking_banner"}), json_values, max_size=8
    ),
    fmt=st.sampled_from(list(GEOJSON_FORMATS)),
)
def test_random_properties_round_trip(properties: dict[str, Any], fmt: ExportFormat) -> None:
    features = [ExportFeature("f1", Point(1, 2), MARKING, properties)]
    out, again = io.BytesIO(), io.BytesIO()
    write_export(features, HEADER, out, fmt)
    write_export(features, HEADER, again, fmt)
    data = out.getvalue()
    assert data == again.getvalue()
    if fmt is ExportFormat.GEOJSON:
        record = json.loads(data)["features"][0]
    else:
        record = json.loads(data.split(b"\x1e")[2])
    written = record["properties"]
    assert written.pop("marking") == "(S//REL TO USA, GBR)"
    assert written.pop("marking_banner") == "SECRET//REL TO USA, GBR"
    assert written == expected(properties)


def test_wrapped_and_continuous_inputs_give_the_same_file(tmp_path: Path) -> None:
    polygon = Polygon([(178, -3), (183, -2), (181, 4)], [[(180.5, 0), (179.5, -0.5), (180, 1)]])
    outputs = []
    for geometry in (polygon, wrapped(polygon)):
        out = io.BytesIO()
        write_export([ExportFeature("f1", geometry, MARKING, {})], HEADER, out, ExportFormat.GEOJSON)
        outputs.append(json.loads(out.getvalue())["features"][0]["geometry"])
    first, second = (shapely.geometry.shape(g) for g in outputs)
    assert first.equals(second)
