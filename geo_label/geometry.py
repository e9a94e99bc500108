"""Checks on drawn geometries: valid GeoJSON, a valid shape of an allowed type, inside the chip, not huge."""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from geo_label.errors import InvalidInputError

MAX_VERTICES = 10_000
#: How far (as a fraction of the chip's size) a geometry may stray outside its chip: snapping to a chip edge
#: and floating-point round trips through the browser must not be refused.
CHIP_TOLERANCE = 0.01


def parse_geometry(geojson: Any, allowed_types: list[str]) -> BaseGeometry:
    if not isinstance(geojson, dict) or "type" not in geojson or "coordinates" not in geojson:
        raise InvalidInputError("geometry must be a GeoJSON geometry object with type and coordinates")
    kind = geojson["type"]
    if kind not in allowed_types:
        raise InvalidInputError(
            f"geometry type {kind} is not allowed for this class (allowed: {', '.join(allowed_types)})"
        )
    try:
        geometry = shape(geojson)
    except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException) as exc:
        raise InvalidInputError(f"geometry is not valid GeoJSON: {exc}") from None
    if geometry.is_empty:
        raise InvalidInputError("geometry is empty")
    vertices = shapely.get_num_coordinates(geometry)
    if vertices > MAX_VERTICES:
        raise InvalidInputError(f"geometry has {vertices} vertices; the limit is {MAX_VERTICES}")
    west, south, east, north = geometry.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInputError("coordinates must be longitude, latitude in EPSG:4326 (RFC 7946)")
    if shapely.has_z(geometry):
        geometry = shapely.force_2d(geometry)
    if not geometry.is_valid:
        raise InvalidInputError(f"geometry is not a valid shape: {explain_validity(geometry)}")
    return geometry


def check_within_chip(geometry: BaseGeometry, footprint: BaseGeometry) -> None:
    west, south, east, north = footprint.bounds
    tolerance = CHIP_TOLERANCE * max(east - west, north - south)
    if not footprint.buffer(tolerance).covers(geometry):
        raise InvalidInputError("geometry lies outside the chip it is drawn on")
