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
from sqlalchemy import ARRAY, Text, Uuid, and_, any_, bindparam, cast, func, literal, or_, select, true
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
    """(id, id) of every two annotations that are parts of one object, the first of ``selected`` (the
    export's select of annotation rows: ``id``, ``image_id``, ``label_class``, ``chip_id``, ``geometry``),
    the second found through the annotations' spatial index and tested exactly. Whether the second is
    selected too is checked apart (:func:`find_groups`): a membership test inside this join makes the
    planner scan the selection once per candidate."""
    reach = rule.distance_m / (_METRES_PER_DEGREE * 0.1)
    # No order (the export's order by id costs a sort of every row, to disk); OFFSET 0: planned apart, each
    # row then probes the index.
    rows = selected.order_by(None).offset(0).subquery("rows")
    # The widened box is computed out here: below row-level security an index condition may call only
    # LEAKPROOF functions on row values; ST_Expand is not one (geometry_overlaps is: migration 0003).
    a = select(*rows.c, func.ST_Expand(rows.c.geometry, reach).label("reach")).offset(0).subquery("a")
    b = ANNOTATIONS.alias("b")
    overlap = func.ST_Area(func.ST_Intersection(a.c.geometry, b.c.geometry))
    smaller = func.least(func.ST_Area(a.c.geometry), func.ST_Area(b.c.geometry))
    union = func.ST_Area(a.c.geometry) + func.ST_Area(b.c.geometry) - overlap
    near = func.ST_DWithin(cast(a.c.geometry, Geography), cast(b.c.geometry, Geography), rule.distance_m)
    a_shorter = func.ST_Length(cast(a.c.geometry, Geography)) <= func.ST_Length(cast(b.c.geometry, Geography))

    def band(line: Any) -> Any:
        return cast(func.ST_Buffer(cast(line, Geography), rule.distance_m), Geometry)

    dimension = func.ST_Dimension(a.c.geometry)
    same_object = or_(
        and_(dimension == 0, near),
        and_(
            dimension == 1,
            near,
            or_(
                and_(a_shorter, func.ST_Covers(band(b.c.geometry), a.c.geometry)),
                and_(~a_shorter, func.ST_Covers(band(a.c.geometry), b.c.geometry)),
            ),
        ),
        and_(
            dimension == 2,
            func.ST_Intersects(a.c.geometry, b.c.geometry),
            or_(overlap >= literal(rule.iou) * union, overlap >= literal(CONTAINED) * smaller),
        ),
    )
    # A LATERAL subquery fenced with OFFSET 0: every selected row probes the spatial index for its
    # neighbours, whatever the planner guesses of the selection's size under row-level security (a guess
    # of a few rows once turned this into a hash join of every annotation with every other).
    neighbours = (
        select(b.c.id)
        .where(
            a.c.reach.op("&&")(b.c.geometry),
            b.c.image_id == a.c.image_id,
            b.c.label_class == a.c.label_class,
            b.c.chip_id != a.c.chip_id,
            # Each pair once; as text, so that the planner does not scan the primary key for it.
            cast(b.c.id, Text) > cast(a.c.id, Text),
            func.ST_Dimension(b.c.geometry) == dimension,
            same_object,
        )
        .offset(0)
        .lateral("b")
    )
    return select(a.c.id, neighbours.c.id.label("other")).select_from(a.join(neighbours, true()))


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
    """The groups of selected annotations that are parts of one object."""
    pairs = [(first, second) for first, second in session.execute(pairs_statement(selected, rule))]
    if not pairs:
        return []
    others = sorted({second for _, second in pairs})
    among = selected.with_only_columns(ANNOTATIONS.c.id).where(ANNOTATIONS.c.id == any_(id_array(others)))
    kept = set(session.execute(among).scalars())
    return groups_of(pair for pair in pairs if pair[1] in kept)


def id_array(ids: list[uuid.UUID]) -> Any:
    """``ids`` as one array parameter (``= ANY``, ``<> ALL``): one bind for any number, and the index."""
    return bindparam(None, ids, type_=ARRAY(Uuid()))


PropertiesOf = Callable[[Any], Mapping[str, Any]]


def merged_features(
    session: Session, selected: Any, groups: list[list[uuid.UUID]], properties_of: PropertiesOf
) -> Iterator[ExportFeature]:
    """One feature per group, from the export's own rows of its parts (``properties_of(row)`` gives a row's
    feature properties, as the export writes them)."""
    if not groups:
        return
    wanted = [member for group in groups for member in group]
    fetched = list(session.execute(selected.where(ANNOTATIONS.c.id == any_(id_array(wanted)))))
    shapes = dict(
        zip(
            (row.id for row in fetched),
            shapely.from_wkb([bytes(row.geometry.data) for row in fetched]),
            strict=True,
        )
    )
    rows = {row.id: row for row in fetched}
    for group in groups:
        members = [member for member in group if member in rows]
        if members:
            yield merge_parts([rows[m] for m in members], properties_of, [shapes[m] for m in members])


@dataclass(frozen=True)
class MergedObject:
    """What the parts of one object make together."""

    geometry: BaseGeometry
    marking: Marking
    status: str
    merged_from: list[str]


def merge_object(parts: list[Any], shapes: list[BaseGeometry] | None = None) -> MergedObject:
    """The union of the parts' geometries (points: their centroid; lines joined where they meet), the roll-up
    of their markings, the weakest of their statuses, and their ids in order (rows with the annotation's
    ``id``, ``geometry``, ``status`` and marking columns; ``shapes``: their geometries, already decoded)."""
    shapes = shapes if shapes is not None else [to_shape(part.geometry) for part in parts]
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


def merge_parts(
    parts: list[Any], properties_of: PropertiesOf, shapes: list[BaseGeometry] | None = None
) -> ExportFeature:
    merged = merge_object(parts, shapes)
    properties: dict[str, Any] = dict(properties_of(parts[0]))
    properties["status"] = merged.status
    properties["merged_from"] = merged.merged_from
    return ExportFeature(
        id=str(parts[0].id), geometry=merged.geometry, marking=merged.marking, properties=properties
    )


#: What an export does unless told otherwise.
DEFAULT_RULE: Final = MergeRule()
