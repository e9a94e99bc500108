"""One object, once: the features of an export that describe one object across overlapping chips.

Chips overlap (64 pixels by default), so an object in an overlap is labeled on each chip that shows it. Two
annotations of an export are **parts of one object** when all of these hold:

- same image, same class, different chips, same kind of geometry (points, lines or polygons);
- polygons: their intersection over union is at least ``iou`` (default 0.5), or at least ``CONTAINED``
  (90 %) of the smaller one's area lies inside the larger one: the object drawn whole on one chip and cut
  at the other chip's edge;
- points: at most ``distance_m`` apart (default 2 m, on the ellipsoid);
- lines: the whole of the shorter one lies within ``distance_m`` of the longer one.

Parts group transitively (an object at the corner of four chips is one group). Only the annotations the
export already selected take part (the caller's access, the recipient's releasability, the statuses), so a
merged feature never carries, nor betrays, a part its reader may not see.

The merged feature takes the id and the properties of its first part (lowest id) with ``merged_from`` (every
part's id, in order), its geometry is the union of the parts' (points: their centroid), its marking the
roll-up of theirs and its status the weakest of theirs (rejected, then draft, submitted, accepted: accepted
only if every part is).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import shapely
from geoalchemy2 import Geography, Geometry
from geoalchemy2.shape import to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import and_, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from access_control import Marking, roll_up
from geo_label.db.models import ANNOTATIONS
from geo_label.export.geojson import ExportFeature
from geo_label.markings import marking_of_values

DEFAULT_IOU: Final = 0.5
DEFAULT_DISTANCE_M: Final = 2.0
#: Share of the smaller polygon inside the larger one that makes them one object cut at a chip's edge.
CONTAINED: Final = 0.9
#: Weakest first: a merged feature's status is the first of its parts' statuses in this order.
STATUS_ORDER: Final = ("rejected", "draft", "submitted", "accepted")
#: Metres per degree of latitude; the candidate search widens boxes by distance / (this x 0.1), which holds
#: to 84 degrees of latitude (the exact test is on the ellipsoid).
_METRES_PER_DEGREE: Final = 111_320.0


@dataclass(frozen=True)
class MergeRule:
    iou: float = DEFAULT_IOU
    distance_m: float = DEFAULT_DISTANCE_M

    def __post_init__(self) -> None:
        if not 0.0 < self.iou <= 1.0:
            raise ValueError("the merge IoU must be greater than 0 and at most 1")
        if not 0.0 <= self.distance_m <= 1000.0:
            raise ValueError("the merge distance must be from 0 to 1000 metres")


def pairs_statement(selected: Any, rule: MergeRule) -> Any:
    """(id, id) of every two selected annotations that are parts of one object. ``selected`` is the
    export's select of annotation rows (with ``id``); the candidates are found through the annotations'
    spatial index, then tested exactly."""
    chosen = selected.with_only_columns(ANNOTATIONS.c.id).subquery("chosen")
    a, b = ANNOTATIONS.alias("a"), ANNOTATIONS.alias("b")
    reach = rule.distance_m / (_METRES_PER_DEGREE * 0.1)
    overlap = func.ST_Area(func.ST_Intersection(a.c.geometry, b.c.geometry))
    smaller = func.least(func.ST_Area(a.c.geometry), func.ST_Area(b.c.geometry))
    union = func.ST_Area(a.c.geometry) + func.ST_Area(b.c.geometry) - overlap
    near = func.ST_DWithin(cast(a.c.geometry, Geography), cast(b.c.geometry, Geography), rule.distance_m)
    a_shorter = func.ST_Length(cast(a.c.geometry, Geography)) <= func.ST_Length(cast(b.c.geometry, Geography))

    def covers(longer: Any, shorter: Any) -> Any:
        band = cast(func.ST_Buffer(cast(longer.c.geometry, Geography), rule.distance_m), Geometry)
        return func.ST_Covers(band, shorter.c.geometry)

    dimension = func.ST_Dimension(a.c.geometry)
    same_object = or_(
        and_(dimension == 0, near),
        and_(dimension == 1, near, or_(and_(a_shorter, covers(b, a)), and_(~a_shorter, covers(a, b)))),
        and_(
            dimension == 2,
            func.ST_Intersects(a.c.geometry, b.c.geometry),
            or_(overlap >= literal(rule.iou) * union, overlap >= literal(CONTAINED) * smaller),
        ),
    )
    return (
        select(a.c.id, b.c.id)
        .join(
            b,
            and_(
                b.c.image_id == a.c.image_id,
                b.c.label_class == a.c.label_class,
                b.c.chip_id != a.c.chip_id,
                b.c.id > a.c.id,
                func.ST_Expand(a.c.geometry, reach).op("&&")(b.c.geometry),
                func.ST_Dimension(b.c.geometry) == dimension,
            ),
        )
        .where(a.c.id.in_(select(chosen.c.id)), b.c.id.in_(select(chosen.c.id)), same_object)
    )


def groups_of(pairs: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> list[list[uuid.UUID]]:
    """The connected groups of ``pairs`` (union-find), each sorted, in the order of their first id."""
    parent: dict[uuid.UUID, uuid.UUID] = {}

    def root(item: uuid.UUID) -> uuid.UUID:
        parent.setdefault(item, item)
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for first, second in pairs:
        low, high = sorted((root(first), root(second)))
        parent[high] = low
    members: dict[uuid.UUID, list[uuid.UUID]] = {}
    for item in parent:
        members.setdefault(root(item), []).append(item)
    return sorted((sorted(group) for group in members.values()), key=lambda group: group[0])


def find_groups(session: Session, selected: Any, rule: MergeRule) -> list[list[uuid.UUID]]:
    return groups_of((first, second) for first, second in session.execute(pairs_statement(selected, rule)))


PropertiesOf = Callable[[Any], Mapping[str, Any]]


def merged_features(
    session: Session, selected: Any, groups: list[list[uuid.UUID]], properties_of: PropertiesOf
) -> Iterator[ExportFeature]:
    """One feature per group, from the export's own rows of its parts (``properties_of(row)`` gives a row's
    feature properties, as the export writes them)."""
    if not groups:
        return
    wanted = [member for group in groups for member in group]
    rows = {row.id: row for row in session.execute(selected.where(ANNOTATIONS.c.id.in_(wanted)))}
    for group in groups:
        parts = [rows[member] for member in group if member in rows]
        if not parts:
            continue
        yield merge_parts(parts, properties_of)


@dataclass(frozen=True)
class MergedObject:
    """What the parts of one object make together."""

    geometry: BaseGeometry
    marking: Marking
    status: str
    merged_from: list[str]


def merge_object(parts: list[Any]) -> MergedObject:
    """The union of the parts' geometries (points: their centroid; lines joined where they meet), the roll-up
    of their markings, the weakest of their statuses, and their ids in order (rows with the annotation's
    ``id``, ``geometry``, ``status`` and marking columns)."""
    shapes = [to_shape(part.geometry) for part in parts]
    geometry: BaseGeometry
    if all(shape.geom_type == "Point" for shape in shapes):
        geometry = shapely.centroid(shapely.union_all(shapes))
    else:
        geometry = shapely.union_all(shapes)
        if geometry.geom_type == "MultiLineString":
            geometry = shapely.line_merge(geometry)
    markings = [
        marking_of_values(part.classification, part.sci_controls, part.dissemination, part.rel_to)
        for part in parts
    ]
    statuses = {part.status for part in parts}
    return MergedObject(
        geometry=geometry,
        marking=roll_up(markings),
        status=next(status for status in STATUS_ORDER if status in statuses),
        merged_from=[str(part.id) for part in parts],
    )


def merge_parts(parts: list[Any], properties_of: PropertiesOf) -> ExportFeature:
    merged = merge_object(parts)
    properties: dict[str, Any] = dict(properties_of(parts[0]))
    properties["status"] = merged.status
    properties["merged_from"] = merged.merged_from
    return ExportFeature(
        id=str(parts[0].id), geometry=merged.geometry, marking=merged.marking, properties=properties
    )


#: What an export does unless told otherwise.
DEFAULT_RULE: Final = MergeRule()
