"""Checks on drawn geometries: valid GeoJSON, a valid shape of an allowed type, inside the chip, not huge.

A shape drawn across the antimeridian arrives with wrapped positions (179.9 then -179.9) or already split
into parts on both sides (RFC 7946 section 3.1.9). It is checked as the one continuous shape it is
(:func:`geo_label.antimeridian.joined_across_antimeridian`: the halves of a polygon are one Polygon, of a
class that allows polygons) and stored split (:func:`stored_form`).
"""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from geo_label.antimeridian import (
    AntimeridianError,
    eastward,
    joined_across_antimeridian,
    spans_antimeridian,
    split_at_antimeridian,
)
from geo_label.errors import InvalidInputError

MAX_VERTICES = 10_000
#: How far (as a fraction of the chip's size) a geometry may stray outside its chip: snapping to a chip edge
#: and floating-point round trips through the browser must not be refused.
CHIP_TOLERANCE = 0.01


def parse_geometry(geojson: Any, allowed_types: list[str]) -> BaseGeometry:
    """The drawn shape, checked, in its joined form (continuous across the antimeridian)."""
    if not isinstance(geojson, dict) or "type" not in geojson or "coordinates" not in geojson:
        raise InvalidInputError("geometry must be a GeoJSON geometry object with type and coordinates")
    kind = geojson["type"]
    # A Multi* may be one allowed shape split at the antimeridian: its type is known once it is joined.
    if not isinstance(kind, str):
        raise InvalidInputError("geometry type must be a string such as Polygon")
    if kind not in allowed_types and kind.removeprefix("Multi") not in allowed_types:
        raise _type_not_allowed(kind, allowed_types)
    if count_positions(geojson["coordinates"], MAX_VERTICES) > MAX_VERTICES:
        raise InvalidInputError(
            f"geometry has more than {MAX_VERTICES} vertices; the limit is {MAX_VERTICES}"
        )
    try:
        geometry = shape(geojson)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, shapely.errors.ShapelyError) as exc:
        raise InvalidInputError(f"geometry is not valid GeoJSON: {exc}") from None
    if geometry.is_empty:
        raise InvalidInputError("geometry is empty")
    west, south, east, north = geometry.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInputError("coordinates must be longitude, latitude in EPSG:4326 (RFC 7946)")
    if shapely.has_z(geometry):
        geometry = shapely.force_2d(geometry)
    try:
        geometry = joined_across_antimeridian(geometry)
    except AntimeridianError as exc:
        raise InvalidInputError(f"geometry is not a valid shape: {exc}") from None
    if geometry.geom_type not in allowed_types:
        raise _type_not_allowed(geometry.geom_type, allowed_types)
    if not geometry.is_valid:
        raise InvalidInputError(f"geometry is not a valid shape: {explain_validity(geometry)}")
    return geometry


def count_positions(coordinates: Any, limit: int) -> int:
    """The number of positions in a GeoJSON ``coordinates`` array, counted without building anything and
    given up past ``limit`` (then ``limit + 1``): a million-vertex shape is refused for the cost of counting
    to the limit, not of building it. A position is an array whose first member is not an array."""
    count = 0
    stack = [coordinates]
    while stack:
        item = stack.pop()
        if not isinstance(item, list) or not item:
            continue
        if not isinstance(item[0], list):
            count += 1
            if count > limit:
                return count
            continue
        stack.extend(item)
    return count


def _type_not_allowed(kind: str, allowed_types: list[str]) -> InvalidInputError:
    return InvalidInputError(
        f"geometry type {kind} is not allowed for this class (allowed: {', '.join(allowed_types)})"
    )


def stored_form(geometry: BaseGeometry) -> BaseGeometry:
    """What is stored for a checked shape (as :func:`parse_geometry` gives it, longitudes from -180 on):
    itself, or split at the antimeridian if its joined form reaches past 180 degrees."""
    if geometry.bounds[2] <= 180.0:
        return geometry
    try:
        return split_at_antimeridian(geometry)
    except AntimeridianError as exc:
        raise InvalidInputError(f"geometry cannot be stored: {exc}") from None


def check_within_chip(geometry: BaseGeometry, footprint: BaseGeometry) -> None:
    """Refuse a shape (joined form) that strays outside its chip's footprint (stored form)."""
    if spans_antimeridian(footprint) or geometry.bounds[2] > 180.0:
        # Compare on one continuous side of the antimeridian: the chip's halves joined, the shape moved east
        # of it where it lies west (a shape wholly on one side of a chip that crosses is inside it too).
        footprint = shapely.union_all(shapely.get_parts(eastward(footprint)))
        geometry = eastward(geometry)
    west, south, east, north = footprint.bounds
    tolerance = CHIP_TOLERANCE * max(east - west, north - south)
    if not footprint.buffer(tolerance).covers(geometry):
        raise InvalidInputError("geometry lies outside the chip it is drawn on")
