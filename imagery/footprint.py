"""Ground footprints and pixel sizes in WGS 84, correct across the antimeridian."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import antimeridian
import numpy as np
from affine import Affine
from pyproj import CRS, Geod, Transformer
from shapely.geometry import MultiPolygon, Polygon, mapping, shape

WGS84 = CRS.from_epsg(4326)
GEOD = Geod(ellps="WGS84")

#: Points per edge when densifying: enough to follow UTM-to-geographic curvature to well under a pixel.
DENSIFY_POINTS = 21
#: Longitudes this close to +-180 degrees (2 cm; the antimeridian package rounds to 1e-7) are on it.
ANTIMERIDIAN_SNAP = 2e-7


@lru_cache(maxsize=64)
def transformer_to_wgs84(crs_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(crs_wkt), WGS84, always_xy=True)


def pixel_ring(col_off: float, row_off: float, width: float, height: float, points: int) -> np.ndarray:
    """Closed ring of pixel-corner coordinates (col, row), ``points`` per edge.

    Counter-clockwise on the ground for a north-up image (rows grow southward).
    """
    t = np.linspace(0.0, 1.0, points, endpoint=False)
    left, right, top, bottom = col_off, col_off + width, row_off, row_off + height
    edges = [
        np.column_stack([np.full_like(t, left), top + t * height]),  # west edge, going south
        np.column_stack([left + t * width, np.full_like(t, bottom)]),  # south edge, going east
        np.column_stack([np.full_like(t, right), bottom - t * height]),  # east edge, going north
        np.column_stack([right - t * width, np.full_like(t, top)]),  # north edge, going west
    ]
    ring = np.vstack(edges)
    return np.vstack([ring, ring[:1]])


def apply_affine(transform: Affine, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map pixel (col, row) arrays to CRS coordinates."""
    a, b, c, d, e, f = (transform.a, transform.b, transform.c, transform.d, transform.e, transform.f)
    return a * cols + b * rows + c, d * cols + e * rows + f


def to_wgs84(xs: np.ndarray, ys: np.ndarray, crs_wkt: str) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = transformer_to_wgs84(crs_wkt).transform(xs, ys)
    lon = (np.asarray(lon) + 180.0) % 360.0 - 180.0
    return lon, np.asarray(lat)


def window_footprint(
    transform: Affine,
    crs_wkt: str,
    col_off: float,
    row_off: float,
    width: float,
    height: float,
    points: int = DENSIFY_POINTS,
) -> Polygon | MultiPolygon:
    """Footprint of a pixel window in EPSG:4326 (lon, lat), edges densified, split at the antimeridian.

    The result follows RFC 7946: exterior rings counter-clockwise, and a footprint crossing 180 degrees is a
    MultiPolygon with one part on each side rather than a polygon wrapping the globe the wrong way.
    """
    return window_footprints(transform, crs_wkt, [(col_off, row_off, width, height)], points)[0]


def window_footprints(
    transform: Affine,
    crs_wkt: str,
    windows: Sequence[tuple[float, float, float, float]],
    points: int = DENSIFY_POINTS,
) -> list[Polygon | MultiPolygon]:
    """:func:`window_footprint` of many ``(col_off, row_off, width, height)`` windows, with one projection
    call for all of them (a chip index has thousands)."""
    if not windows:
        return []
    rings = np.stack([pixel_ring(c, r, w, h, points) for c, r, w, h in windows])
    xs, ys = apply_affine(transform, rings[..., 0].ravel(), rings[..., 1].ravel())
    lon, lat = to_wgs84(xs, ys, crs_wkt)
    lon, lat = lon.reshape(rings.shape[:2]), lat.reshape(rings.shape[:2])
    return [ring_polygon(lon[i], lat[i]) for i in range(len(windows))]


def unwrap_longitudes(lon: np.ndarray) -> np.ndarray:
    """The ring's longitudes made continuous (no step above 180 degrees) by adding multiples of 360.

    Longitudes within :data:`ANTIMERIDIAN_SNAP` of +-180 are put exactly on it, and a ring lying wholly at or
    beyond +-180 is moved back into [-180, 180], so rounding never leaves a sliver on the far side.
    """
    steps = (np.diff(lon) + 180.0) % 360.0 - 180.0
    continuous = np.concatenate([lon[:1], lon[0] + np.cumsum(steps)])
    unwrapped: np.ndarray = lon + 360.0 * np.round((continuous - lon) / 360.0)
    on_antimeridian = np.abs(np.abs(unwrapped) - 180.0) < ANTIMERIDIAN_SNAP
    unwrapped = np.where(on_antimeridian, np.copysign(180.0, unwrapped), unwrapped)
    if unwrapped.min() >= 180.0:
        unwrapped -= 360.0
    elif unwrapped.max() <= -180.0:
        unwrapped += 360.0
    return unwrapped


def ring_polygon(lon: np.ndarray, lat: np.ndarray) -> Polygon | MultiPolygon:
    # to_wgs84 wraps +180 to -180, so an image ending exactly on the antimeridian would look like a crossing
    # one; only a ring that leaves [-180, 180] once made continuous really crosses it.
    unwrapped = unwrap_longitudes(lon)
    if unwrapped.min() >= -180.0 and unwrapped.max() <= 180.0:
        polygon = Polygon(np.column_stack([unwrapped, lat]))
        return polygon if polygon.exterior.is_ccw else Polygon(polygon.exterior.coords[::-1])
    polygon = Polygon(np.column_stack([(unwrapped + 180.0) % 360.0 - 180.0, lat]))
    # Edges are already densified, so the crossing latitude is interpolated along them, not a great circle.
    fixed = antimeridian.fix_polygon(polygon, great_circle=False)
    return shape(mapping(fixed))  # type: ignore[return-value]


def ground_sample_distance(transform: Affine, crs_wkt: str, width: int, height: int) -> tuple[float, float]:
    """Metres on the ground spanned by one pixel (across, along) at the image centre, measured geodesically.

    Works for any CRS (projected, geographic, rotated) because it measures the ellipsoidal distance between
    the centre pixel's corners rather than trusting the CRS's units.
    """
    col, row = width / 2.0, height / 2.0
    cols = np.array([col, col + 1.0, col])
    rows = np.array([row, row, row + 1.0])
    xs, ys = apply_affine(transform, cols, rows)
    lon, lat = to_wgs84(xs, ys, crs_wkt)
    _, _, across = GEOD.inv(lon[0], lat[0], lon[1], lat[1])
    _, _, along = GEOD.inv(lon[0], lat[0], lon[2], lat[2])
    return float(across), float(along)


def dataset_footprint(dataset: Any) -> Polygon | MultiPolygon:
    return window_footprint(dataset.transform, dataset.crs.to_wkt(), 0, 0, dataset.width, dataset.height)
