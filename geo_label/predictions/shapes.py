"""A batch of predicted shapes brought to WGS 84 and checked as a drawn annotation is
(:func:`geo_label.geometry.parse_geometry`): a valid shape of a type the class allows, within the vertex
limit, longitude and latitude in range. The common case runs as shapely array calls over the whole batch;
a shape that crosses the antimeridian takes the annotation's own path one by one (it is rare)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer

from geo_label.errors import InvalidInputError
from geo_label.geometry import MAX_VERTICES, parse_geometry, stored_form

#: shapely's type ids (shapely.get_type_id) by GeoJSON type name.
TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}

Coordinates = Callable[[np.ndarray], np.ndarray]


def to_wgs84(crs: CRS) -> Coordinates:
    """A coordinate function for shapely.transform: ``crs`` to longitude, latitude (always x, y)."""
    transformer = Transformer.from_crs(crs, CRS.from_epsg(4326), always_xy=True)

    def transform(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return transform


def check_shapes(
    geometries: Sequence[Any],
    allowed_types: Sequence[list[str] | None],
    problems: list[str | None],
    coordinates: Coordinates | None = None,
) -> list[Any]:
    """The stored form (EPSG:4326, split at the antimeridian when it crosses) of each geometry whose record
    has no problem yet; for the others None, and ``problems`` (changed in place) says why.

    ``allowed_types[i]`` is the geometry types record i's class allows (None when the class is unknown: the
    record already has its problem). ``coordinates`` moves the file's positions to longitude, latitude.
    """
    count = len(geometries)
    result: list[Any] = [None] * count
    todo = np.array([problems[i] is None and geometries[i] is not None for i in range(count)], dtype=bool)
    if not todo.any():
        return result
    positions = [int(i) for i in np.flatnonzero(todo)]
    shapes: np.ndarray = np.empty(len(positions), dtype=object)
    shapes[:] = [geometries[i] for i in positions]
    if coordinates is not None:
        shapes = shapely.transform(shapes, coordinates)
    shapes = shapely.force_2d(shapes)
    empty = shapely.is_empty(shapes)
    vertices = shapely.get_num_coordinates(shapes)
    with np.errstate(invalid="ignore"):
        bounds = shapely.bounds(shapes)
    in_range = (
        (bounds[:, 0] >= -180)
        & (bounds[:, 2] <= 180)
        & (bounds[:, 1] >= -90)
        & (bounds[:, 3] <= 90)
        & (bounds[:, 0] <= bounds[:, 2])
    )
    crossing = (bounds[:, 2] - bounds[:, 0]) > 180
    types = shapely.get_type_id(shapes)
    valid = shapely.is_valid(shapes)
    for k, i in enumerate(positions):
        allowed = allowed_types[i] or []
        if empty[k]:
            problems[i] = "the geometry is empty"
        elif vertices[k] > MAX_VERTICES:
            problems[i] = f"the geometry has more than {MAX_VERTICES} vertices; the limit is {MAX_VERTICES}"
        elif not in_range[k]:
            problems[i] = (
                "the coordinates are not longitude, latitude in EPSG:4326 (give the file's CRS, or --image "
                "for pixel coordinates)"
            )
        elif crossing[k]:
            result[i] = _across_antimeridian(shapes[k], allowed, problems, i)
        elif TYPE_NAMES.get(int(types[k])) not in allowed:
            problems[i] = (
                f"geometry type {TYPE_NAMES.get(int(types[k]), 'unknown')} is not allowed for this class "
                f"(allowed: {', '.join(allowed)})"
            )
        elif not valid[k]:
            problems[i] = f"the geometry is not a valid shape: {shapely.is_valid_reason(shapes[k])}"
        else:
            result[i] = shapes[k]
    return result


def _across_antimeridian(shape: Any, allowed: list[str], problems: list[str | None], i: int) -> Any:
    """A shape whose longitudes span more than 180 degrees: as a drawn annotation, joined, checked, split."""
    try:
        return stored_form(parse_geometry(shapely.geometry.mapping(shape), allowed))
    except InvalidInputError as exc:
        problems[i] = exc.detail
        return None
