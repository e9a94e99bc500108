"""Drawn shapes across the antimeridian: checked joined, stored split, the same area either way (hypothesis),
and ordinary shapes left exactly as drawn."""

from __future__ import annotations

import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, box, mapping

from geo_label.antimeridian import eastward, split_at_antimeridian
from geo_label.errors import InvalidInputError
from geo_label.geometry import check_within_chip, parse_geometry, stored_form

#: A chip footprint from 179.5 E to 179.5 W, as stored (split at 180).
CHIP = MultiPolygon([box(179.5, 9.0, 180.0, 10.0), box(-180.0, 9.0, -179.5, 10.0)])


def wrapped(polygon: Polygon) -> dict[str, object]:
    """The polygon's GeoJSON with every longitude wrapped into [-180, 180], as a browser sends it."""
    ring = [[(x + 180.0) % 360.0 - 180.0 if x != 180.0 else 180.0, y] for x, y in polygon.exterior.coords]
    return {"type": "Polygon", "coordinates": [ring]}


@given(
    west=st.floats(179.5, 179.99),
    width=st.floats(0.02, 0.5),
    south=st.floats(9.0, 9.8),
    height=st.floats(0.01, 0.2),
)
def test_boxes_across_180_keep_their_shape(west: float, width: float, south: float, height: float) -> None:
    drawn = box(west, south, west + width, south + height)  # continuous: may pass 180
    joined = parse_geometry(wrapped(drawn), ["Polygon"])
    assert joined.geom_type == "Polygon"
    assert joined.area == pytest.approx(drawn.area, rel=1e-9)
    check_within_chip(joined, CHIP)
    stored = stored_form(joined)
    west_, _, east_, _ = stored.bounds
    assert west_ >= -180.0 and east_ <= 180.0, "RFC 7946 longitudes"
    assert stored.area == pytest.approx(drawn.area, rel=1e-9)
    rejoined = shapely.union_all(shapely.get_parts(eastward(stored)))
    assert rejoined.symmetric_difference(eastward(drawn)).area < 1e-12, "the halves make the drawn box"
    if west + width > 180.0 + 1e-9:  # a box ending 3e-14 degrees past 180 is stored as ending on it
        assert stored.geom_type == "MultiPolygon" and len(stored.geoms) == 2


def test_ordinary_shapes_are_stored_as_drawn() -> None:
    """Regression guard: nothing changes for the shapes that never come near 180 degrees."""
    square = box(14.0, 40.0, 14.1, 40.1)
    parsed = parse_geometry(mapping(square), ["Polygon"])
    assert stored_form(parsed) is parsed and parsed.equals_exact(square, 0.0)
    point = parse_geometry({"type": "Point", "coordinates": [179.99, 9.5]}, ["Point"])
    assert stored_form(point) is point


def test_two_polygons_apart_stay_two() -> None:
    apart = MultiPolygon([box(179.8, 9.5, 179.9, 9.6), box(-179.9, 9.5, -179.8, 9.6)])
    with pytest.raises(InvalidInputError, match="MultiPolygon is not allowed"):
        parse_geometry(mapping(apart), ["Polygon"])
    assert parse_geometry(mapping(apart), ["MultiPolygon"]).geom_type == "MultiPolygon"


def test_outside_a_chip_across_180_is_refused() -> None:
    check_within_chip(Point(-179.6, 9.5), CHIP)
    check_within_chip(Point(179.6, 9.5), CHIP)
    for outside in (Point(-179.0, 9.5), Point(179.0, 9.5), Point(-179.6, 11.0)):
        with pytest.raises(InvalidInputError, match="outside the chip"):
            check_within_chip(outside, CHIP)


def test_split_is_exactly_at_180() -> None:
    stored = split_at_antimeridian(box(179.9, 9.8, 180.1, 9.9))
    assert sorted(part.bounds for part in stored.geoms) == [
        (-180.0, 9.8, -179.9, 9.9),
        (179.9, 9.8, 180.0, 9.9),
    ]


@pytest.mark.parametrize(
    "geometry",
    [
        # Two bow-ties, one on each side: GEOS cannot union them (this was an HTTP 500).
        {
            "type": "MultiPolygon",
            "coordinates": [
                [[[179.9, 9.9], [180, 9.8], [180, 9.9], [179.9, 9.8], [179.9, 9.9]]],
                [[[-180, 9.9], [-179.9, 9.8], [-179.9, 9.9], [-180, 9.8], [-180, 9.9]]],
            ],
        },
        # The same triangle twice, and one on the other side: parts that overlap.
        {
            "type": "MultiPolygon",
            "coordinates": [
                [[[179.9, 9.9], [180, 9.8], [180, 9.9], [179.9, 9.9]]],
                [[[179.9, 9.9], [180, 9.8], [180, 9.9], [179.9, 9.9]]],
                [[[-180, 9.9], [-179.9, 9.8], [-179.9, 9.9], [-180, 9.9]]],
            ],
        },
        # A bow-tie drawn across 180.
        {
            "type": "Polygon",
            "coordinates": [[[179.9, 9.9], [-179.9, 9.8], [-179.9, 9.9], [179.9, 9.8], [179.9, 9.9]]],
        },
    ],
    ids=["bow-ties-split", "overlapping-parts", "bow-tie-across"],
)
@pytest.mark.parametrize("allowed", [["Polygon"], ["Polygon", "MultiPolygon"]])
def test_invalid_shapes_across_180_are_refused_not_crashed(
    geometry: dict[str, object], allowed: list[str]
) -> None:
    with pytest.raises(InvalidInputError, match=r"not a valid shape|is not allowed"):
        parse_geometry(geometry, allowed)


@given(
    rings=st.lists(
        st.lists(st.tuples(st.floats(179.0, 181.0), st.floats(9.0, 10.0)), min_size=3, max_size=7),
        min_size=1,
        max_size=3,
    ),
    allowed=st.sampled_from([["Polygon"], ["Polygon", "MultiPolygon"]]),
)
def test_any_polygon_near_180_is_accepted_or_refused_never_crashes(
    rings: list[list[tuple[float, float]]], allowed: list[str]
) -> None:
    """Whatever a client sends near the antimeridian, the answer is a shape or an InvalidInputError."""
    polygons = [[[[(x + 180.0) % 360.0 - 180.0, y] for x, y in [*ring, ring[0]]]] for ring in rings]
    geojson = (
        {"type": "Polygon", "coordinates": polygons[0]}
        if len(polygons) == 1
        else {"type": "MultiPolygon", "coordinates": polygons}
    )
    try:
        shape = parse_geometry(geojson, allowed)
        check_within_chip(shape, CHIP)
        stored = stored_form(shape)
    except InvalidInputError:
        return
    assert stored.is_valid and stored.bounds[0] >= -180.0 and stored.bounds[2] <= 180.0
