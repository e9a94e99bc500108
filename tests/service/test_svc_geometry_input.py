"""Whatever geometry a client sends, the answer is a checked shape or InvalidInputError (HTTP 400), never a
crash: fuzzed GeoJSON of every kind, odd numbers, wrong nesting, near 180 degrees and elsewhere.

Regressions found this way: a non-string ``type`` (AttributeError) and a Multi* geometry with an empty part
(shapely's EmptyPartError) were HTTP 500s."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, box
from shapely.geometry.base import BaseGeometry

from geo_label.errors import InvalidInputError
from geo_label.geometry import check_within_chip, parse_geometry, stored_form

CHIPS = [box(14, 40, 15, 41), MultiPolygon([box(179.5, 9.0, 180.0, 10.0), box(-180.0, 9.0, -179.5, 10.0)])]
ALL_TYPES = ["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"]

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-200, 200),
    st.sampled_from([180.0, -180.0, 179.9, -179.9, 0.0, 90.0, 9.5, 14.5, 40.5]),
    st.integers(-1000, 1000),
)
positions = st.one_of(st.lists(numbers, max_size=4), numbers, st.text(max_size=2), st.none())
coordinates = st.recursive(positions, lambda inner: st.lists(inner, max_size=6), max_leaves=40)
kinds = st.one_of(st.sampled_from([*ALL_TYPES, "GeometryCollection", "Foo"]), st.integers(), st.none())
geometries = st.fixed_dictionaries({"type": kinds, "coordinates": coordinates})


def checked(geojson: Any, allowed: list[str], chip: BaseGeometry) -> BaseGeometry | None:
    try:
        shape = parse_geometry(geojson, allowed)
        check_within_chip(shape, chip)
        return stored_form(shape)
    except InvalidInputError:
        return None


@settings(max_examples=400, suppress_health_check=list(HealthCheck))
@given(
    geometries, st.sampled_from([ALL_TYPES, ["Polygon"], ["Point"], ["LineString"]]), st.sampled_from(CHIPS)
)
def test_fuzzed_geometries_are_checked_or_refused(
    geojson: Any, allowed: list[str], chip: BaseGeometry
) -> None:
    stored = checked(geojson, allowed, chip)
    assert stored is None or stored.is_valid


@pytest.mark.parametrize(
    "geojson",
    [{"type": 3, "coordinates": []}, {"type": "MultiLineString", "coordinates": [""]}],
    ids=["type-not-a-string", "empty-part"],
)
def test_former_crashes_are_refused(geojson: Any) -> None:
    with pytest.raises(InvalidInputError):
        parse_geometry(geojson, ALL_TYPES)
