"""Footprints in EPSG:4326 (densified, RFC 7946 orientation, split at the antimeridian) and ground sample
distances, checked against pyproj on real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS, Geod, Transformer
from rasterio.transform import from_origin
from shapely import affinity
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon, box
from shapely.ops import unary_union

from imagery import ImageInfo, inspect_image
from imagery.footprint import DENSIFY_POINTS, window_footprint, window_footprints
from tests.imagery.conftest import UTM_TRANSFORM, ramp, write_raster

GEOD = Geod(ellps="WGS84")
WGS84_WKT = CRS.from_epsg(4326).to_wkt()


def parts(geometry: Polygon | MultiPolygon) -> list[Polygon]:
    return list(geometry.geoms) if isinstance(geometry, MultiPolygon) else [geometry]


def to_lonlat(crs: str, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    return np.asarray(lon), np.asarray(lat)


def edge_points(
    transform: Affine, width: int, height: int, per_edge: int = 7
) -> tuple[np.ndarray, np.ndarray]:
    """CRS coordinates of points along the four image edges, corners included, in ring order."""
    t = np.linspace(0.0, 1.0, per_edge)
    cols = np.concatenate([np.zeros_like(t), t * width, np.full_like(t, width), (1.0 - t) * width])
    rows = np.concatenate([t * height, np.full_like(t, height), (1.0 - t) * height, np.zeros_like(t)])
    xs, ys = transform @ (cols, rows)
    return np.asarray(xs), np.asarray(ys)


def joined_across_180(geometry: Polygon | MultiPolygon) -> Polygon:
    """The parts of a split footprint put back together east of 180 (western parts shifted by +360)."""
    shifted = [affinity.translate(p, xoff=360.0) if p.bounds[2] <= 0.0 else p for p in parts(geometry)]
    joined = unary_union(shifted)
    assert isinstance(joined, Polygon), joined.geom_type
    return joined


def check_rfc7946(geometry: Polygon | MultiPolygon) -> None:
    assert geometry.is_valid
    for part in parts(geometry):
        assert part.exterior.is_ccw
        west, south, east, north = part.bounds
        assert -180.0 <= west <= east <= 180.0
        assert -90.0 <= south <= north <= 90.0


@pytest.fixture(scope="module")
def utm_info(utm_image: Path) -> ImageInfo:
    return inspect_image(utm_image, statistics=False)


def test_utm_footprint_is_the_projected_image_outline(utm_info: ImageInfo) -> None:
    footprint = utm_info.footprint
    assert isinstance(footprint, Polygon)
    check_rfc7946(footprint)
    # Densified: DENSIFY_POINTS vertices per edge, each the exact projection of its point on the pixel edge.
    assert len(footprint.exterior.coords) == 4 * DENSIFY_POINTS + 1
    vertices = MultiPoint(footprint.exterior.coords)
    steps = DENSIFY_POINTS + 1  # edge_points repeats the corners, whose vertex each edge shares
    for x, y in zip(*to_lonlat("EPSG:32633", *edge_points(UTM_TRANSFORM, 1100, 900, steps)), strict=True):
        assert vertices.distance(Point(x, y)) < 1e-9
    # Between the vertices, the outline stays within 1% of a pixel (10 m is about 1e-4 degree) of the truth.
    for x, y in zip(*to_lonlat("EPSG:32633", *edge_points(UTM_TRANSFORM, 1100, 900, 50)), strict=True):
        assert footprint.exterior.distance(Point(x, y)) < 1e-6
    corners_lon, corners_lat = to_lonlat("EPSG:32633", *edge_points(UTM_TRANSFORM, 1100, 900, per_edge=2))
    assert footprint.bounds == pytest.approx(
        (corners_lon.min(), corners_lat.min(), corners_lon.max(), corners_lat.max()), abs=1e-9
    )


def test_densified_edges_follow_the_projection_where_a_chord_would_not() -> None:
    """A 600 km wide UTM window: its edges are curved in lon/lat, and the footprint follows them."""
    transform = from_origin(200_000.0, 7_000_000.0, 1000.0, 1000.0)
    footprint = window_footprint(transform, CRS.from_epsg(32633).to_wkt(), 0, 0, 600, 600)
    # 5% of a 1 km pixel is about 5e-4 degree of latitude (and more of longitude at 63N).
    for x, y in zip(*to_lonlat("EPSG:32633", *edge_points(transform, 600, 600, 61)), strict=True):
        assert footprint.exterior.distance(Point(x, y)) < 5e-4
    # The midpoint of the northern edge is kilometres from the chord between its corners: densifying matters.
    _, top_lat = to_lonlat("EPSG:32633", *(transform @ (np.array([0.0, 300.0, 600.0]), np.zeros(3))))
    assert top_lat[1] - (top_lat[0] + top_lat[2]) / 2.0 > 0.1
    assert footprint.bounds[3] == pytest.approx(top_lat[1], abs=5e-4)


def test_geographic_footprint_is_the_pixel_box(rgb_image: Path) -> None:
    footprint = inspect_image(rgb_image, statistics=False).footprint
    check_rfc7946(footprint)
    expected = box(12.0, 45.0 - 500 * 1e-4, 12.0 + 700 * 1e-4, 45.0)
    assert footprint.symmetric_difference(expected).area < 1e-12
    assert footprint.bounds == pytest.approx(expected.bounds, abs=1e-12)


def test_wgs84_image_across_the_antimeridian_is_split(crossing_wgs84_image: Path) -> None:
    info = inspect_image(crossing_wgs84_image, statistics=False)
    footprint = info.footprint
    assert isinstance(footprint, MultiPolygon)
    check_rfc7946(footprint)
    bounds = sorted(part.bounds for part in footprint.geoms)
    assert bounds == [
        pytest.approx((-180.0, 9.5, -179.5, 10.0), abs=1e-9),
        pytest.approx((179.5, 9.5, 180.0, 10.0), abs=1e-9),
    ]
    assert [part.area for part in footprint.geoms] == pytest.approx([0.25, 0.25], rel=1e-9)
    assert joined_across_180(footprint).symmetric_difference(box(179.5, 9.5, 180.5, 10.0)).area < 1e-9
    assert info.to_dict()["footprint"]["type"] == "MultiPolygon"


@pytest.mark.parametrize(
    ("fixture", "crs", "origin_x"),
    [("crossing_utm60_image", "EPSG:32660", 800_000.0), ("crossing_utm1_image", "EPSG:32601", 140_000.0)],
)
def test_utm_image_straddling_180_is_split(
    fixture: str, crs: str, origin_x: float, request: pytest.FixtureRequest
) -> None:
    info = inspect_image(request.getfixturevalue(fixture), statistics=False)
    footprint = info.footprint
    assert isinstance(footprint, MultiPolygon)
    assert len(footprint.geoms) == 2
    check_rfc7946(footprint)
    east, west = sorted(footprint.geoms, key=lambda part: -part.bounds[0])
    assert east.bounds[2] == pytest.approx(180.0) and east.bounds[0] > 179.0
    assert west.bounds[0] == pytest.approx(-180.0) and west.bounds[2] < -179.0
    # Put back together east of 180, the parts are the projected outline: every edge point on its boundary.
    joined = joined_across_180(footprint)
    transform = from_origin(origin_x, 1_000_000.0, 300.0, 300.0)
    lon, lat = to_lonlat(crs, *edge_points(transform, 200, 100))
    lon = np.where(lon < 0.0, lon + 360.0, lon)
    assert lon.min() < 180.0 < lon.max()
    for x, y in zip(lon, lat, strict=True):
        assert joined.exterior.distance(Point(x, y)) < 1e-5  # 1% of a 300 m pixel
    lon, lat = to_lonlat(crs, *edge_points(transform, 200, 100, per_edge=200))
    outline = Polygon(np.column_stack([np.where(lon < 0.0, lon + 360.0, lon), lat]))
    assert outline.is_valid
    assert joined.symmetric_difference(outline).area < 1e-5 * outline.area


@pytest.mark.parametrize(("west", "expected_type"), [(179.0, Polygon), (-180.0, Polygon)])
def test_image_ending_exactly_on_the_antimeridian_is_one_polygon(
    tmp_path: Path, west: float, expected_type: type
) -> None:
    """Regression: an edge exactly on +180 came back as -180 and made an invalid two-part footprint."""
    path = write_raster(
        tmp_path / "edge.tif", ramp(1, 50, 100), transform=from_origin(west, 10.0, 0.01, 0.01)
    )
    footprint = inspect_image(path, statistics=False).footprint
    assert isinstance(footprint, expected_type)
    check_rfc7946(footprint)
    expected = box(west, 9.5, west + 1.0, 10.0)
    assert footprint.bounds == pytest.approx(expected.bounds, abs=1e-9)
    assert footprint.symmetric_difference(expected).area < 1e-9


@pytest.mark.parametrize(
    ("west", "pixel", "width"),
    [
        (175.0, 1 / 120, 600),  # a 30 arc-second grid whose east edge rounds to 180 exactly
        (179.99999999999994, 0.0078125, 1),  # west edge one rounding error short of 180
        (179.9999998807907, 0.0078125, 1),  # 1.2e-7 degree (1 cm) of it west of 180
    ],
)
def test_edges_within_rounding_of_the_antimeridian_give_no_sliver(
    west: float, pixel: float, width: int
) -> None:
    """Regression: these gave an invalid MultiPolygon with a zero-area part on the far side of 180."""
    footprint = window_footprint(Affine(pixel, 0.0, west, 0.0, -pixel, 10.0), WGS84_WKT, 0, 0, width, 1)
    assert isinstance(footprint, Polygon)
    check_rfc7946(footprint)
    # Within 2e-7 degree (the antimeridian package's own rounding) of the true box, wherever it is put.
    assert footprint.area == pytest.approx(width * pixel * pixel, abs=2e-7 * pixel)
    assert footprint.bounds[2] - footprint.bounds[0] == pytest.approx(width * pixel, abs=2e-7)


def test_chip_windows_ending_on_the_antimeridian_are_valid() -> None:
    """window_footprints (the chip index) of the last column of chips of a grid ending on 180 degrees."""
    transform = Affine(0.01, 0.0, 170.0, 0.0, -0.01, 60.0)
    windows = [(col, row, 100.0, 100.0) for col in (800.0, 900.0) for row in (0.0, 100.0)]
    for (col, row, _, _), footprint in zip(
        windows, window_footprints(transform, WGS84_WKT, windows), strict=True
    ):
        assert isinstance(footprint, Polygon)
        check_rfc7946(footprint)
        west, north = 170.0 + col * 0.01, 60.0 - row * 0.01
        assert footprint.bounds == pytest.approx((west, north - 1.0, west + 1.0, north), abs=1e-9)


def test_ground_sample_distance_of_a_10_m_utm_grid(utm_info: ImageInfo) -> None:
    across, along = utm_info.gsd_m
    # Independent check: geodesic lengths of the centre pixel's sides.
    cols, rows = np.array([550.0, 551.0, 550.0]), np.array([450.0, 450.0, 451.0])
    lon, lat = to_lonlat("EPSG:32633", *(UTM_TRANSFORM @ (cols, rows)))
    assert across == pytest.approx(GEOD.inv(lon[0], lat[0], lon[1], lat[1])[2], rel=1e-9)
    assert along == pytest.approx(GEOD.inv(lon[0], lat[0], lon[2], lat[2])[2], rel=1e-9)
    # 10 m of grid is 10 m on the ground up to the UTM scale factor (0.9996 .. 1.0004).
    assert across == pytest.approx(10.0, rel=5e-4)
    assert along == pytest.approx(10.0, rel=5e-4)


def test_ground_sample_distance_of_a_geographic_grid_at_45_degrees(rgb_image: Path) -> None:
    across, along = inspect_image(rgb_image, statistics=False).gsd_m
    lon, lat = 12.0 + 350 * 1e-4, 45.0 - 250 * 1e-4  # the centre pixel's corner
    assert across == pytest.approx(GEOD.inv(lon, lat, lon + 1e-4, lat)[2], rel=1e-9)
    assert along == pytest.approx(GEOD.inv(lon, lat, lon, lat - 1e-4)[2], rel=1e-9)
    assert across == pytest.approx(7.9, abs=0.05)
    assert along == pytest.approx(11.1, abs=0.05)


def test_ground_sample_distance_of_half_metre_pixels(holes_image: Path) -> None:
    assert inspect_image(holes_image, statistics=False).gsd_m == pytest.approx((0.5, 0.5), rel=5e-4)
