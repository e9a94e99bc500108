"""Geometry side of the GeoJSON export: RFC 7946 geometries, processed a batch at a time.

:func:`normalize_geometries` turns shapely geometries in EPSG:4326 (lon, lat) into what RFC 7946 asks for:

* longitudes in [-180, 180] and latitudes in [-90, 90];
* a line or polygon crossing the antimeridian split into a Multi* geometry with one part on each side
  (section 3.1.9), whether it is given with continuous longitudes (179.5 to 180.5) or wrapped ones (179.5 to
  -179.5); points are only wrapped into [-180, 180]; a polygon around a pole is refused;
* polygon exterior rings counter-clockwise and holes clockwise (section 3.1.6);
* coordinates rounded to ``precision`` decimals (section 11.2), consecutive duplicate points dropped and the
  result still valid: a ring that rounding would make invalid (a spike crossing an edge, parts that now
  overlap) is snapped to the same grid by GEOS instead, which keeps it valid, and a geometry that collapses
  altogether is an error, never silently dropped;
* no third dimension unless the input has one.

The fast path is vectorised over the batch; only the rare geometries that cross the antimeridian, repeat a
point after rounding or come out invalid take a per-geometry path. :func:`geojson_geometries` renders the
result as GeoJSON geometry objects holding numpy coordinate views (orjson writes them with shortest
round-trip floats, so a coordinate rounded to 7 decimals is written with at most 7), and
:class:`BBoxAccumulator` computes the RFC 7946 bounding box of a whole export in constant memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.errors import GEOSException
from shapely.geometry.base import BaseGeometry

from geo_label.antimeridian import AntimeridianError, split_at_antimeridian, transform_coordinates

__all__ = [
    "BBoxAccumulator",
    "ExportError",
    "geojson_geometries",
    "normalize_geometries",
    "part_bounds",
]

#: Largest ``precision`` accepted: float64 has about 15-17 significant digits, so more decimals mean nothing.
MAX_PRECISION: Final = 15

# shapely type ids (shapely.GeometryType).
_POINT, _LINESTRING, _LINEARRING, _POLYGON, _MULTIPOINT, _MULTILINESTRING, _MULTIPOLYGON = range(7)
_GEOJSON_TYPE: Final = {
    _POINT: "Point",
    _LINESTRING: "LineString",
    _POLYGON: "Polygon",
    _MULTIPOINT: "MultiPoint",
    _MULTILINESTRING: "MultiLineString",
    _MULTIPOLYGON: "MultiPolygon",
}
_FAMILY: Final = {
    _POINT: _POINT,
    _MULTIPOINT: _POINT,
    _LINESTRING: _LINESTRING,
    _MULTILINESTRING: _LINESTRING,
    _POLYGON: _POLYGON,
    _MULTIPOLYGON: _POLYGON,
}
#: A longitude beyond this is not a longitude: the geometry is in some other CRS.
_MAX_ABS_LONGITUDE: Final = 360.0

FloatArray = NDArray[np.float64]
GeometryObject = dict[str, Any]


class ExportError(ValueError):
    """A feature cannot be exported as given (bad geometry, marking or properties); nothing was written.

    The message names the feature id. It is meant for logs and the audit trail: the features come from the
    server, not from the client, so the API should answer such a failure as an internal error.
    """


def normalize_geometries(
    geometries: Sequence[object], ids: Sequence[str], precision: int
) -> list[BaseGeometry | None]:
    """RFC 7946 versions of ``geometries`` (see the module docstring); None for empty ones.

    ``ids`` name the features in error messages. Raises :class:`ExportError` for something that is not a
    point, line or polygon (single or multi), a non-finite coordinate, a latitude outside [-90, 90] or a
    longitude beyond +-360 (not EPSG:4326), and for a geometry that collapses at ``precision`` decimals.
    """
    n = len(geometries)
    result: list[BaseGeometry | None] = [None] * n
    if n == 0:
        return result
    arr = np.empty(n, dtype=object)
    arr[:] = list(geometries)
    is_geometry = shapely.is_geometry(arr)
    if not is_geometry.all():
        i = int(np.flatnonzero(~is_geometry)[0])
        raise ExportError(
            f"feature {ids[i]!r}: geometry is {type(geometries[i]).__name__}, not a shapely geometry"
        )
    type_ids = shapely.get_type_id(arr)
    supported = np.isin(type_ids, list(_GEOJSON_TYPE))
    if not supported.all():
        i = int(np.flatnonzero(~supported)[0])
        kind = shapely.get_type_id(arr[i])
        raise ExportError(
            f"feature {ids[i]!r}: {shapely.GeometryType(kind).name} is not exported; "
            "use a Point, LineString, Polygon or their Multi forms"
        )
    present = np.flatnonzero(~shapely.is_empty(arr))
    if present.size == 0:
        return result
    geoms = arr[present]
    _check_coordinates(geoms, [ids[i] for i in present.tolist()])

    bounds = shapely.bounds(geoms)
    outside = (bounds[:, 0] < -180.0) | (bounds[:, 2] > 180.0)
    wide = (bounds[:, 2] - bounds[:, 0]) > 180.0
    families = np.array([_FAMILY[t] for t in type_ids[present].tolist()])
    for j in np.flatnonzero(outside | (wide & (families != _POINT))).tolist():
        geoms[j] = _fix_antimeridian(geoms[j], ids[present[j]])

    rounded = transform_coordinates(geoms, _rounder(precision))
    needs_repair = ~shapely.is_valid(rounded)
    for j in _with_repeated_points(rounded).tolist():
        if needs_repair[j]:
            continue
        try:
            rounded[j] = shapely.remove_repeated_points(rounded[j], 0.0)
        except GEOSException:  # a ring or line reduced below its minimum number of points
            needs_repair[j] = True
            continue
        needs_repair[j] = not rounded[j].is_valid
    for j in np.flatnonzero(needs_repair).tolist():
        rounded[j] = _snap_to_grid(geoms[j], precision, ids[present[j]])
    # Oriented last: rounding can flip a sliver that stays valid (its middle point crosses the line).
    final = shapely.orient_polygons(rounded, exterior_cw=False)
    for j, i in enumerate(present.tolist()):
        result[i] = final[j]
    return result


def geojson_geometries(geometries: Sequence[BaseGeometry | None]) -> list[GeometryObject | None]:
    """GeoJSON geometry objects (``type`` first, then ``coordinates`` as numpy views) for orjson.

    Serialise them with ``orjson.OPT_SERIALIZE_NUMPY``. None stays None (``"geometry": null``).
    """
    out: list[GeometryObject | None] = [None] * len(geometries)
    present = [i for i, geom in enumerate(geometries) if geom is not None]
    if not present:
        return out
    arr = np.empty(len(present), dtype=object)
    arr[:] = [geometries[i] for i in present]
    families = np.array([_FAMILY.get(t, -1) for t in shapely.get_type_id(arr).tolist()])
    keys = families * 2 + shapely.has_z(arr)
    groups: dict[tuple[int, bool], list[int]] = {}
    for key in np.unique(keys).tolist():
        groups[(key // 2, bool(key % 2))] = [present[j] for j in np.flatnonzero(keys == key).tolist()]
    for (family, has_z), members in groups.items():
        arr = np.empty(len(members), dtype=object)
        arr[:] = [geometries[i] for i in members]
        type_ids = shapely.get_type_id(arr).tolist()
        kind, coords, offsets = shapely.to_ragged_array(arr, include_z=has_z)
        coords = np.ascontiguousarray(coords)
        objects = _RENDERERS[family](coords, [o.tolist() for o in offsets], type_ids, int(kind))
        for i, obj in zip(members, objects, strict=True):
            out[i] = obj
    return out


def part_bounds(geometries: Sequence[BaseGeometry | None]) -> FloatArray:
    """``(xmin, ymin, xmax, ymax)`` of every part (polygon, line or point) of the geometries, one row each."""
    present = [g for g in geometries if g is not None]
    if not present:
        return np.empty((0, 4))
    arr = np.empty(len(present), dtype=object)
    arr[:] = present
    multi = shapely.get_type_id(arr) >= _MULTIPOINT
    if not multi.any():
        singles: FloatArray = shapely.bounds(arr)
        return singles
    bounds: FloatArray = np.vstack(
        [shapely.bounds(arr[~multi]), shapely.bounds(shapely.get_parts(arr[multi]))]
    )
    return bounds


class BBoxAccumulator:
    """The RFC 7946 bbox of all parts added so far, in constant memory.

    RFC 7946 section 5.2: a bbox that crosses the antimeridian has west > east. The bbox is the complement of
    the widest longitude gap that no part covers; the gap across 180 degrees gives an ordinary west < east
    box, any other gives a crossing one (so parts at 179.5..180 and -180..-179.5 give west 179.5, east
    -179.5). Coverage is kept per one-degree bin as the lowest and highest covered longitude in the bin, which
    finds every gap exactly except one lying wholly inside a single bin between two parts; such a gap is
    counted as covered, so the box can then be wider than the tightest one but always contains every part.
    Ties go to the ordinary box.
    """

    _BINS: Final = 360

    def __init__(self) -> None:
        self._low = np.full(self._BINS, np.inf)
        self._high = np.full(self._BINS, -np.inf)
        self._south = math.inf
        self._north = -math.inf

    def add(self, bounds: FloatArray) -> None:
        """Add parts given as rows of ``(xmin, ymin, xmax, ymax)`` within [-180, 180] x [-90, 90]."""
        if bounds.shape[0] == 0:
            return
        west, east = bounds[:, 0], bounds[:, 2]
        self._south = min(self._south, float(bounds[:, 1].min()))
        self._north = max(self._north, float(bounds[:, 3].max()))
        first, last = self._bin(west), self._bin(east)
        np.minimum.at(self._low, first, west)
        np.maximum.at(self._high, last, east)
        spans = first < last
        if spans.any():
            first, last = first[spans], last[spans]
            # The first bin is covered up to its east edge, the last from its west edge, any between fully.
            np.maximum.at(self._high, first, first + 1.0 - 180.0)
            np.minimum.at(self._low, last, last - 180.0)
            steps = np.zeros(self._BINS + 1)
            np.add.at(steps, first + 1, 1.0)
            np.add.at(steps, last, -1.0)
            full = np.cumsum(steps)[: self._BINS] > 0
            edges = np.arange(self._BINS, dtype=np.float64) - 180.0
            self._low[full] = np.minimum(self._low[full], edges[full])
            self._high[full] = np.maximum(self._high[full], edges[full] + 1.0)

    def result(self) -> tuple[float, float, float, float] | None:
        """``(west, south, east, north)``, or None if nothing was added."""
        covered = np.flatnonzero(self._low <= self._high)
        if covered.size == 0:
            return None
        low, high = self._low[covered], self._high[covered]
        across_180 = float(low[0]) + 360.0 - float(high[-1])
        if covered.size > 1:
            gaps = low[1:] - high[:-1]
            k = int(np.argmax(gaps))
            if float(gaps[k]) > across_180:
                west, east = float(low[k + 1]), float(high[k])
                if west == 180.0 and east == -180.0:  # everything lies on the antimeridian itself
                    west, east = -180.0, 180.0
                return (west, self._south, east, self._north)
        return (float(low[0]), self._south, float(high[-1]), self._north)

    @classmethod
    def _bin(cls, longitudes: FloatArray) -> NDArray[np.intp]:
        bins: NDArray[np.intp] = np.clip(np.floor(longitudes + 180.0), 0, cls._BINS - 1).astype(np.intp)
        return bins


def _check_coordinates(geoms: NDArray[np.object_], ids: Sequence[str]) -> None:
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    bad = ~np.isfinite(coords).all(axis=1)
    if bad.any():
        raise ExportError(
            f"feature {ids[int(index[np.argmax(bad)])]!r}: geometry has a non-finite coordinate"
        )
    has_z = shapely.has_z(geoms)
    if has_z.any():
        z, z_index = shapely.get_coordinates(geoms[has_z], include_z=True, return_index=True)
        bad_z = ~np.isfinite(z[:, 2])
        if bad_z.any():
            owner = np.flatnonzero(has_z)[int(z_index[np.argmax(bad_z)])]
            raise ExportError(f"feature {ids[int(owner)]!r}: geometry has a non-finite z coordinate")
    bad = (np.abs(coords[:, 1]) > 90.0) | (np.abs(coords[:, 0]) > _MAX_ABS_LONGITUDE)
    if bad.any():
        lon, lat = coords[np.argmax(bad)]
        raise ExportError(
            f"feature {ids[int(index[np.argmax(bad)])]!r}: coordinate ({lon}, {lat}) is not a longitude and "
            "latitude in degrees; export geometries must be EPSG:4326"
        )


def _fix_antimeridian(geom: BaseGeometry, feature_id: str) -> BaseGeometry:
    """:func:`geo_label.antimeridian.split_at_antimeridian`, its failure named after the feature."""
    try:
        return split_at_antimeridian(geom)
    except AntimeridianError as exc:
        raise ExportError(f"feature {feature_id!r}: {exc}") from exc


def _rounder(precision: int) -> Callable[[FloatArray], FloatArray]:
    def round_coordinates(coords: FloatArray) -> FloatArray:
        # "+ 0.0" turns -0.0 into 0.0, so a coordinate rounded to zero is always written "0.0".
        rounded: FloatArray = np.round(coords, precision) + 0.0
        return rounded

    return round_coordinates


def _with_repeated_points(geoms: NDArray[np.object_]) -> NDArray[np.intp]:
    """Indices of the geometries with two equal consecutive coordinates (or rings starting where the last
    ended, a harmless false positive that only sends them down the slower exact path)."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    same = (coords[1:] == coords[:-1]).all(axis=1) & (index[1:] == index[:-1])
    flagged: NDArray[np.intp] = np.unique(index[1:][same])
    return flagged


def _snap_to_grid(geom: BaseGeometry, precision: int, feature_id: str) -> BaseGeometry:
    """GEOS snap-rounding to the grid: the output is valid and collapsed parts are removed.

    Invalid input is first repaired by ``make_valid`` ("structure" method: a polygon stays polygonal).
    """
    family = _FAMILY[int(shapely.get_type_id(geom))]
    try:
        if not geom.is_valid:  # invalid input (a bow-tie, say): GEOS snap-rounding needs valid input
            geom = shapely.make_valid(geom, method="structure", keep_collapsed=False)
        snapped = shapely.set_precision(geom, 10.0**-precision)
    except GEOSException as exc:
        raise ExportError(f"feature {feature_id!r}: geometry cannot be made valid ({exc})") from exc
    if snapped.is_empty:
        raise ExportError(
            f"feature {feature_id!r}: geometry collapses when rounded to {precision} decimals "
            "(it is smaller than the export precision)"
        )
    snapped = transform_coordinates(shapely.orient_polygons(snapped), _rounder(precision))
    kind = int(shapely.get_type_id(snapped))
    if kind not in _FAMILY or _FAMILY[kind] != family or not snapped.is_valid:
        raise ExportError(
            f"feature {feature_id!r}: geometry cannot be made valid at {precision} decimals "
            f"({shapely.is_valid_reason(snapped)})"
        )
    result: BaseGeometry = snapped
    return result


def _render_points(
    coords: FloatArray, offsets: list[list[int]], type_ids: list[int], kind: int
) -> list[GeometryObject]:
    if kind == _POINT:
        return [{"type": "Point", "coordinates": coords[i]} for i in range(len(type_ids))]
    (geom_offsets,) = offsets
    out: list[GeometryObject] = []
    for i, type_id in enumerate(type_ids):
        start, end = geom_offsets[i], geom_offsets[i + 1]
        value = coords[start] if type_id == _POINT else coords[start:end]
        out.append({"type": _GEOJSON_TYPE[type_id], "coordinates": value})
    return out


def _render_lines(
    coords: FloatArray, offsets: list[list[int]], type_ids: list[int], kind: int
) -> list[GeometryObject]:
    if kind == _LINESTRING:
        (geom_offsets,) = offsets
        return [
            {"type": "LineString", "coordinates": coords[geom_offsets[i] : geom_offsets[i + 1]]}
            for i in range(len(type_ids))
        ]
    line_offsets, geom_offsets = offsets
    out: list[GeometryObject] = []
    for i, type_id in enumerate(type_ids):
        lines = [
            coords[line_offsets[k] : line_offsets[k + 1]] for k in range(geom_offsets[i], geom_offsets[i + 1])
        ]
        value: Any = lines[0] if type_id == _LINESTRING else lines
        out.append({"type": _GEOJSON_TYPE[type_id], "coordinates": value})
    return out


def _render_polygons(
    coords: FloatArray, offsets: list[list[int]], type_ids: list[int], kind: int
) -> list[GeometryObject]:
    if kind == _POLYGON:
        ring_offsets, geom_offsets = offsets
        return [
            {
                "type": "Polygon",
                "coordinates": [
                    coords[ring_offsets[r] : ring_offsets[r + 1]]
                    for r in range(geom_offsets[i], geom_offsets[i + 1])
                ],
            }
            for i in range(len(type_ids))
        ]
    ring_offsets, polygon_offsets, geom_offsets = offsets
    out: list[GeometryObject] = []
    for i, type_id in enumerate(type_ids):
        polygons = [
            [
                coords[ring_offsets[r] : ring_offsets[r + 1]]
                for r in range(polygon_offsets[p], polygon_offsets[p + 1])
            ]
            for p in range(geom_offsets[i], geom_offsets[i + 1])
        ]
        value: Any = polygons[0] if type_id == _POLYGON else polygons
        out.append({"type": _GEOJSON_TYPE[type_id], "coordinates": value})
    return out


_RENDERERS: Final = {_POINT: _render_points, _LINESTRING: _render_lines, _POLYGON: _render_polygons}
