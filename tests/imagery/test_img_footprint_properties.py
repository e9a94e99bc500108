"""Properties of footprints of random small north-up EPSG:4326 grids, across the antimeridian included."""

from __future__ import annotations

import pytest
from affine import Affine
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pyproj import CRS
from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.ops import unary_union

from imagery.footprint import ground_sample_distance, window_footprint

WGS84_WKT = CRS.from_epsg(4326).to_wkt()

origins_lon = st.floats(min_value=-180.0, max_value=180.0, exclude_max=True, allow_nan=False)
origins_lat = st.floats(min_value=-80.0, max_value=80.0, allow_nan=False)
pixel_sizes = st.floats(min_value=1e-5, max_value=1e-2, allow_nan=False)
sizes = st.integers(min_value=1, max_value=2000)


@settings(max_examples=300, deadline=None)
@given(west=origins_lon, north=origins_lat, pixel=pixel_sizes, width=sizes, height=sizes)
@example(west=179.5, north=10.0, pixel=0.01, width=100, height=50)  # crosses
@example(west=170.0, north=10.0, pixel=0.01, width=1000, height=50)  # ends exactly on +180
@example(west=-180.0, north=0.0, pixel=0.01, width=2000, height=2000)  # starts exactly on -180
@example(west=179.99999, north=-70.0, pixel=1e-5, width=2000, height=2000)  # crosses by 0.01 degree
@example(west=160.0, north=80.0, pixel=1e-2, width=1, height=1)
@example(west=179.99999999999997, north=0.0, pixel=0.0078125, width=1, height=1)  # wraps onto -180
@example(west=179.99999999999994, north=0.0, pixel=0.0078125, width=1, height=1)  # was an invalid sliver
@example(west=175.0, north=50.0, pixel=1 / 120, width=600, height=600)  # a 30" grid ending on 180
def test_footprint_is_the_valid_split_lonlat_box(
    west: float, north: float, pixel: float, width: int, height: int
) -> None:
    south = north - height * pixel
    assume(south >= -90.0)  # a grid running past the pole is not an image of the Earth
    transform = Affine(pixel, 0.0, west, 0.0, -pixel, north)
    footprint = window_footprint(transform, WGS84_WKT, 0, 0, width, height)

    assert footprint.is_valid
    parts = list(footprint.geoms) if isinstance(footprint, MultiPolygon) else [footprint]
    for part in parts:
        assert isinstance(part, Polygon)
        assert part.exterior.is_ccw
        part_west, part_south, part_east, part_north = part.bounds
        assert -180.0 <= part_west <= part_east <= 180.0
        assert -90.0 <= part_south <= part_north <= 90.0

    east = west + width * pixel
    expected = box(west, south, east, north)
    crosses = east > 180.0
    if east <= 180.0:
        assert isinstance(footprint, Polygon)
    elif west < 180.0 - 1e-9 and east > 180.0 + 1e-9:
        assert isinstance(footprint, MultiPolygon)
        assert len(parts) == 2
    # (Within 1e-9 degree of 180 either form is right: a longitude that close may round to -180.)
    shifted = [affinity.translate(p, xoff=360.0) if crosses and p.bounds[2] <= 0.0 else p for p in parts]
    assert sum(p.area for p in shifted) == pytest.approx(expected.area, rel=1e-6)
    joined = unary_union(shifted)
    assert joined.symmetric_difference(expected).area <= 1e-6 * expected.area

    across, along = ground_sample_distance(transform, WGS84_WKT, width, height)
    # A degree of latitude is 110.57 to 111.70 km; one of longitude at most 111.32 km (on the equator).
    assert 110_570.0 * pixel <= along <= 111_700.0 * pixel
    assert 0.0 < across <= 111_330.0 * pixel
