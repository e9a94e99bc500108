"""Geometries that cross the antimeridian (180 degrees of longitude), in EPSG:4326.

Two forms of one such geometry meet here:

* the *stored* form, RFC 7946 section 3.1.9: longitudes in [-180, 180], a line or polygon that crosses 180
  degrees split into a Multi* geometry with one part on each side. Stored annotations, chip footprints and
  exports use it, so spatial indexes and other programs see ordinary lon/lat;
* the *joined* form: one continuous piece whose longitudes may pass 180 (179.9 to 180.1). Checks on a
  drawn shape (its type, validity, lying inside its chip) need it: the two halves of a polygon split at 180
  are one polygon to the analyst who drew it.

:func:`split_at_antimeridian` gives the stored form of either; :func:`joined_across_antimeridian` the joined
form of a geometry as a client may send it (wrapped positions with a step of more than 180 degrees between
neighbours, or already split). Shapes here are small (an annotation lies within a chip), so "across the
antimeridian" always means the short way round.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import shapely
import shapely.affinity
from numpy.typing import NDArray
from shapely.errors import GEOSException
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

FloatArray = NDArray[np.float64]
_Part = TypeVar("_Part", Polygon, LineString)


class AntimeridianError(ValueError):
    """A geometry cannot be split at the antimeridian (it goes round a pole or spans the globe)."""


def transform_coordinates(geometry: Any, function: Callable[[FloatArray], FloatArray]) -> Any:
    """``shapely.transform`` keeping each geometry's own dimension (2D stays 2D, 3D keeps its z)."""
    transform: Callable[..., Any] = shapely.transform  # the stubs do not know include_z=None
    return transform(geometry, function, include_z=None)


def wrap_longitudes(coords: FloatArray) -> FloatArray:
    """Longitudes moved into [-180, 180] by multiples of 360 (180 itself stays 180)."""
    wrapped = coords.copy()
    wrapped[:, 0] = (coords[:, 0] + 180.0) % 360.0 - 180.0
    wrapped[:, 0] = np.where(coords[:, 0] == 180.0, 180.0, wrapped[:, 0])
    return wrapped


def spans_antimeridian(geometry: BaseGeometry) -> bool:
    """True for a geometry whose longitudes lie wider apart than half the globe: given the short way round,
    it crosses the antimeridian (wrapped, or split into parts on both sides)."""
    west, _, east, _ = shapely.bounds(geometry).tolist()
    return bool(east - west > 180.0)


def eastward(geometry: BaseGeometry) -> BaseGeometry:
    """The geometry with negative longitudes moved east by 360 degrees (-179.9 becomes 180.1): near the
    antimeridian, everything on one continuous side."""

    def move(coords: FloatArray) -> FloatArray:
        moved = coords.copy()
        moved[:, 0] = np.where(coords[:, 0] < 0.0, coords[:, 0] + 360.0, coords[:, 0])
        return moved

    moved: BaseGeometry = transform_coordinates(geometry, move)
    return moved


def joined_across_antimeridian(geometry: BaseGeometry) -> BaseGeometry:
    """One continuous piece for a geometry that crosses the antimeridian; any other geometry unchanged.

    The halves of a polygon (or line) split at 180 degrees are joined again; parts that do not touch stay
    apart (a MultiPolygon of two separate polygons remains a MultiPolygon).
    """
    if not spans_antimeridian(geometry):
        return geometry
    moved = eastward(geometry)
    if isinstance(moved, MultiPolygon):
        parts = shapely.get_parts(moved)
        if not shapely.is_valid(parts).all():
            return moved  # GEOS cannot union invalid parts; the caller's validity check says what is wrong
        try:
            joined: BaseGeometry = shapely.union_all(parts)
        except GEOSException as exc:
            raise AntimeridianError(f"cannot join the parts across the antimeridian ({exc})") from exc
        # Halves of one polygon only touch; parts that overlap are not a valid MultiPolygon in any form.
        if not math.isclose(joined.area, float(shapely.area(parts).sum()), rel_tol=1e-9):
            raise AntimeridianError("its parts overlap")
        return joined
    if isinstance(moved, MultiLineString):
        merged: BaseGeometry = shapely.line_merge(moved)
        return merged
    return moved


def split_at_antimeridian(geometry: BaseGeometry) -> BaseGeometry:
    """The RFC 7946 form: longitudes in [-180, 180], a line or polygon cut where it crosses 180 degrees.

    A crossing is a step of more than 180 degrees of longitude between consecutive points, whether the input
    is continuous (179.5 to 180.5) or already wrapped (179.5 to -179.5). Each line, or each polygon with its
    holes, is made continuous (multiples of 360 added so that no step exceeds 180 degrees), moved so that it
    starts in [-180, 180), and if it then reaches past 180 it is cut there with GEOS (exact planar
    intersection: edges are straight lines in lon/lat, RFC 7946 section 3.1.1) and the eastern piece moved
    back by 360 degrees. Points are only wrapped. Raises :class:`AntimeridianError` for a polygon around a
    pole (a ring whose longitudes go once round the globe) or a geometry 360 degrees wide.

    (The ``antimeridian`` package, used for image footprints, is not used here: it loses a hole that itself
    crosses 180 degrees, and needs its input wrapped first.)
    """
    try:
        if isinstance(geometry, Polygon | MultiPolygon):
            polygons: list[Polygon] = []
            for polygon in shapely.get_parts(geometry).tolist():
                polygons.extend(_split(_continuous_polygon(polygon), Polygon))
            return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)
        if isinstance(geometry, LineString | MultiLineString):
            lines: list[LineString] = []
            for line in shapely.get_parts(geometry).tolist():
                lines.extend(_split(LineString(_continuous_ring(np.asarray(line.coords))), LineString))
            return lines[0] if len(lines) == 1 else MultiLineString(lines)
    except GEOSException as exc:
        raise AntimeridianError(f"cannot split the geometry at the antimeridian ({exc})") from exc
    wrapped: BaseGeometry = transform_coordinates(geometry, wrap_longitudes)
    return wrapped


def _continuous_ring(coords: FloatArray) -> FloatArray:
    """The coordinates with multiples of 360 added to longitudes so that no step exceeds 180 degrees."""
    turns = np.round(np.diff(coords[:, 0]) / 360.0)
    continuous = coords.copy()
    continuous[1:, 0] -= 360.0 * np.cumsum(turns)
    return continuous


def _continuous_polygon(polygon: Polygon) -> BaseGeometry:
    exterior = _continuous_ring(np.asarray(polygon.exterior.coords))
    if exterior[0, 0] != exterior[-1, 0]:
        raise AntimeridianError(
            "polygon goes round a pole (its longitudes span the whole globe); split it into parts that do not"
        )
    middle = (exterior[:, 0].min() + exterior[:, 0].max()) / 2.0
    holes = []
    for interior in polygon.interiors:
        hole = _continuous_ring(np.asarray(interior.coords))
        hole[:, 0] += 360.0 * np.round((middle - (hole[:, 0].min() + hole[:, 0].max()) / 2.0) / 360.0)
        holes.append(hole)
    continuous = Polygon(exterior, holes)
    if continuous.is_valid:
        return continuous
    repaired: BaseGeometry = shapely.make_valid(continuous, method="structure", keep_collapsed=False)
    return repaired


def _split(geometry: BaseGeometry, kind: type[_Part]) -> list[_Part]:
    """The parts of type ``kind`` of a continuous geometry, cut at 180 degrees and moved into range."""
    west, _, east, _ = shapely.bounds(geometry).tolist()
    if east - west >= 360.0:
        raise AntimeridianError("geometry spans 360 degrees of longitude or more")
    geometry = shapely.affinity.translate(geometry, xoff=-360.0 * math.floor((west + 180.0) / 360.0))
    west, _, east, _ = shapely.bounds(geometry).tolist()
    if east <= 180.0:
        return [part for part in shapely.get_parts(geometry).tolist() if isinstance(part, kind)]
    pieces: list[_Part] = []
    for offset in (0.0, 360.0):
        cut = shapely.intersection(geometry, box(offset - 180.0, -90.0, offset + 180.0, 90.0))
        moved = shapely.affinity.translate(cut, xoff=-offset)
        pieces.extend(part for part in shapely.get_parts(moved).tolist() if isinstance(part, kind))
    return pieces
