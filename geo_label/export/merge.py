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
from functools import lru_cache
from typing import Any, Final, TypeVar

import numpy as np
import shapely
from geoalchemy2 import Geography, Geometry
from geoalchemy2.shape import to_shape
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Text, and_, any_, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from access_control import Marking, roll_up
from geo_label.db.bulk import id_array
from geo_label.db.models import ANNOTATIONS
from geo_label.export.geojson import ExportFeature
from geo_label.export.postgis import copy_lines
from geo_label.markings import marking_of_values

DEFAULT_IOU: Final = 0.5
DEFAULT_DISTANCE_M: Final = 2.0
#: Share of the smaller polygon inside the larger one that makes them one object cut at a chip's edge.
CONTAINED: Final = 0.9
#: Weakest first: a merged feature's status is the first of its parts' statuses in this order.
STATUS_ORDER: Final = ("rejected", "draft", "submitted", "accepted")
#: Metres per degree of latitude; the candidate search widens boxes by distance / (this x 0.1), which holds
#: to 84 degrees of latitude (the exact test is on the ellipsoid).
METRES_PER_DEGREE: Final = 111_320.0


#: What pairs and groups are made of: annotation ids, or positions in a list of them.
Key = TypeVar("Key", uuid.UUID, int)


@dataclass(frozen=True)
class MergeRule:
    iou: float = DEFAULT_IOU
    distance_m: float = DEFAULT_DISTANCE_M

    def __post_init__(self) -> None:
        if not 0.0 < self.iou <= 1.0:
            raise ValueError("the merge IoU must be greater than 0 and at most 1")
        if not 0.0 <= self.distance_m <= 1000.0:
            raise ValueError("the merge distance must be from 0 to 1000 metres")


def same_object(a: Any, b: Any, rule: MergeRule) -> Any:
    """Whether geometries ``a`` and ``b`` (of one image and class, on different chips) are parts of one
    object, as the module docstring says."""
    overlap = func.ST_Area(func.ST_Intersection(a, b))
    smaller = func.least(func.ST_Area(a), func.ST_Area(b))
    union = func.ST_Area(a) + func.ST_Area(b) - overlap
    near = func.ST_DWithin(cast(a, Geography), cast(b, Geography), rule.distance_m)
    a_shorter = func.ST_Length(cast(a, Geography)) <= func.ST_Length(cast(b, Geography))

    def band(line: Any) -> Any:
        return cast(func.ST_Buffer(cast(line, Geography), rule.distance_m), Geometry)

    dimension = func.ST_Dimension(a)
    return and_(
        func.ST_Dimension(b) == dimension,
        or_(
            and_(dimension == 0, near),
            and_(
                dimension == 1,
                near,
                or_(
                    and_(a_shorter, func.ST_Covers(band(b), a)),
                    and_(~a_shorter, func.ST_Covers(band(a), b)),
                ),
            ),
            and_(
                dimension == 2,
                func.ST_Intersects(a, b),
                or_(overlap >= literal(rule.iou) * union, overlap >= literal(CONTAINED) * smaller),
            ),
        ),
    )


@dataclass(frozen=True)
class Boxes:
    """The selection's annotations as boxes: ids (text), a code per (image, class, dimension), a code per
    chip (64-bit hashes: a collision of two kinds or two chips would at worst add candidates, which the exact
    test refuses), and ``(xmin, ymin, xmax, ymax)`` rows."""

    ids: list[str]
    kinds: NDArray[np.int64]
    chips: NDArray[np.int64]
    bounds: NDArray[np.float64]


def merge_keys() -> Any:
    """SQL text ``kind,chip`` of an annotation row: 64-bit hashes of its image, dimension and class, and of
    its chip (what :class:`Boxes` holds)."""
    a = ANNOTATIONS
    kind = func.concat(a.c.image_id, "/", func.ST_Dimension(a.c.geometry), "/", a.c.label_class)
    return func.concat(func.hashtextextended(kind, 0), ",", func.hashtextextended(cast(a.c.chip_id, Text), 0))


def parse_boxes(ids: list[str], keys: list[bytes], box_texts: list[bytes]) -> Boxes:
    """:class:`Boxes` from ids, :func:`merge_keys` texts and PostGIS ``BOX(xmin ymin,xmax ymax)`` texts, all
    parsed at once."""
    if not ids:
        return Boxes(
            ids=[],
            kinds=np.empty(0, dtype=np.int64),
            chips=np.empty(0, dtype=np.int64),
            bounds=np.empty((0, 4)),
        )
    codes = np.array(b",".join(keys).split(b","), dtype=np.int64).reshape(-1, 2)
    text = b" ".join(box_texts).replace(b"BOX(", b"").replace(b")", b"").replace(b",", b" ")
    bounds = np.array(text.split(), dtype=np.float64).reshape(-1, 4)
    return Boxes(ids=ids, kinds=codes[:, 0], chips=codes[:, 1], bounds=bounds)


def selection_boxes(session: Session, selected: Any) -> Boxes:
    """One narrow pass over the selection (``selected``: the export's select of annotation rows), streamed by
    COPY: the database hashes the keys, so no row becomes Python objects beyond its id."""
    a = ANNOTATIONS
    statement = selected.order_by(None).with_only_columns(a.c.id, merge_keys(), func.Box2D(a.c.geometry))
    ids: list[str] = []
    keys: list[bytes] = []
    box_texts: list[bytes] = []
    for line in copy_lines(session, statement):
        identifier, key, box = line.rstrip(b"\n").split(b"\t")
        if box == b"\\N":  # an empty geometry: nothing to merge
            continue
        ids.append(identifier.decode())
        keys.append(key)
        box_texts.append(box)
    return parse_boxes(ids, keys, box_texts)


def candidate_indexes(boxes: Boxes, rule: MergeRule) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Every two annotations (as positions in ``boxes``) of one image, class and dimension, on different
    chips, whose boxes (widened by the merge distance) meet: the only ones that may be parts of one
    object."""
    if len(boxes.ids) < 2:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    reach = rule.distance_m / (METRES_PER_DEGREE * 0.1)
    widened = boxes.bounds + np.array([-reach, -reach, reach, reach])
    shapes = shapely.box(widened[:, 0], widened[:, 1], widened[:, 2], widened[:, 3])
    left, right = shapely.STRtree(shapes).query(shapes, predicate="intersects")
    keep = (
        (left < right) & (boxes.kinds[left] == boxes.kinds[right]) & (boxes.chips[left] != boxes.chips[right])
    )
    return left[keep], right[keep]


def candidate_pairs(boxes: Boxes, rule: MergeRule) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """:func:`candidate_indexes` as pairs of ids."""
    left, right = candidate_indexes(boxes, rule)
    ids = boxes.ids
    return [
        (uuid.UUID(ids[i]), uuid.UUID(ids[j])) for i, j in zip(left.tolist(), right.tolist(), strict=True)
    ]


def exact_pairs(
    session: Session, candidates: list[tuple[uuid.UUID, uuid.UUID]], rule: MergeRule
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """The candidate pairs that are parts of one object (their keys checked again, as hashes may collide)."""
    if not candidates:
        return []
    a = ANNOTATIONS
    wanted = sorted({member for pair in candidates for member in pair})
    facts = {
        row[0]: row
        for row in session.execute(
            select(
                a.c.id,
                a.c.image_id,
                a.c.label_class,
                a.c.chip_id,
                func.ST_Dimension(a.c.geometry),
                func.ST_AsBinary(a.c.geometry),
            ).where(a.c.id == any_(id_array(wanted)))
        )
    }
    kept = [
        (first, second)
        for first, second in candidates
        if (x := facts.get(first)) is not None
        and (y := facts.get(second)) is not None
        and x[1:3] == y[1:3]
        and x[3] != y[3]
        and x[4] == y[4]
    ]
    shapes = {key: shapely.from_wkb(bytes(row[5])) for key, row in facts.items()}
    return alike_pairs(session, kept, shapes, lambda key: key, rule)


def alike_pairs(
    session: Session,
    candidates: list[tuple[Key, Key]],
    shapes: Mapping[Key, BaseGeometry],
    uuid_of: Callable[[Key], uuid.UUID],
    rule: MergeRule,
) -> list[tuple[Key, Key]]:
    """The candidates that are parts of one object: polygons tested here, all at once (GEOS, as PostGIS
    would, in the same planar degrees); points and lines, whose distances are on the ellipsoid, in PostGIS."""
    polygons = [pair for pair in candidates if shapes[pair[0]].geom_type.endswith("Polygon")]
    others = [pair for pair in candidates if not shapes[pair[0]].geom_type.endswith("Polygon")]
    key_of = {uuid_of(key): key for pair in others for key in pair}
    tested = postgis_pairs(session, [(uuid_of(x), uuid_of(y)) for x, y in others], rule)
    return polygons_alike(polygons, shapes, rule) + [(key_of[x], key_of[y]) for x, y in tested]


def polygons_alike(
    pairs: list[tuple[Key, Key]], shapes: Mapping[Key, BaseGeometry], rule: MergeRule
) -> list[tuple[Key, Key]]:
    """The polygon pairs whose IoU reaches ``rule.iou`` or of which the smaller lies inside the larger."""
    if not pairs:
        return []
    first = np.empty(len(pairs), dtype=object)
    second = np.empty(len(pairs), dtype=object)
    first[:] = [shapes[x] for x, _ in pairs]
    second[:] = [shapes[y] for _, y in pairs]
    overlap = shapely.area(shapely.intersection(first, second))
    area_first, area_second = shapely.area(first), shapely.area(second)
    union = area_first + area_second - overlap
    alike = shapely.intersects(first, second) & (
        (overlap >= rule.iou * union) | (overlap >= CONTAINED * np.minimum(area_first, area_second))
    )
    return [pair for pair, keep in zip(pairs, alike.tolist(), strict=True) if keep]


def postgis_pairs(
    session: Session, pairs: list[tuple[uuid.UUID, uuid.UUID]], rule: MergeRule
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """The pairs that :func:`same_object` holds for, tested in PostGIS (two primary-key reads each)."""
    if not pairs:
        return []
    table = (
        func.unnest(id_array([first for first, _ in pairs]), id_array([second for _, second in pairs]))
        .table_valued("first", "second")
        .render_derived(name="pairs")
    )
    a, b = ANNOTATIONS.alias("a"), ANNOTATIONS.alias("b")
    statement = (
        select(a.c.id, b.c.id)
        .select_from(table.join(a, a.c.id == table.c.first).join(b, b.c.id == table.c.second))
        .where(same_object(a.c.geometry, b.c.geometry, rule))
    )
    return [(first, second) for first, second in session.execute(statement)]


def groups_of(pairs: Iterable[tuple[Key, Key]]) -> list[list[Key]]:
    """The connected groups of ``pairs`` (union-find), each sorted, in the order of their first member."""
    parent: dict[Key, Key] = {}

    def root(item: Key) -> Key:
        parent.setdefault(item, item)
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for first, second in pairs:
        low, high = sorted((root(first), root(second)))
        parent[high] = low
    members: dict[Key, list[Key]] = {}
    for item in parent:
        members.setdefault(root(item), []).append(item)
    return sorted((sorted(group) for group in members.values()), key=lambda group: group[0])


def find_groups(session: Session, selected: Any, rule: MergeRule) -> list[list[uuid.UUID]]:
    """The groups of selected annotations that are parts of one object.

    The selection is read once as boxes (a narrow pass); pairs whose boxes meet are found in memory with an
    STR-tree and tested exactly (:func:`exact_pairs`), rather than probing the spatial index once per selected
    row under row-level security (see benchmarks/README.md, Datasets). The export itself merges inside its
    stream instead (:mod:`geo_label.export.held`).
    """
    return groups_of(exact_pairs(session, candidate_pairs(selection_boxes(session, selected), rule), rule))


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
    present = [[member for member in group if member in rows] for group in groups]
    present = [members for members in present if members]
    unions = unions_of([[shapes[m] for m in members] for members in present])
    for members, union in zip(present, unions, strict=True):
        yield merge_parts([rows[m] for m in members], properties_of, union=union)


def unions_of(groups: list[list[BaseGeometry]]) -> list[BaseGeometry]:
    """Each group's union, the many groups of two in one vectorised call."""
    unions: list[BaseGeometry | None] = [
        shapely.union_all(group) if len(group) != 2 else None for group in groups
    ]
    pairs = [index for index, group in enumerate(groups) if len(group) == 2]
    if pairs:
        first = np.empty(len(pairs), dtype=object)
        second = np.empty(len(pairs), dtype=object)
        first[:] = [groups[index][0] for index in pairs]
        second[:] = [groups[index][1] for index in pairs]
        for index, union in zip(pairs, shapely.union(first, second).tolist(), strict=True):
            unions[index] = union
    return [union for union in unions if union is not None]


@dataclass(frozen=True)
class MergedObject:
    """What the parts of one object make together."""

    geometry: BaseGeometry
    marking: Marking
    status: str
    merged_from: list[str]


def merge_object(
    parts: list[Any], shapes: list[BaseGeometry] | None = None, union: BaseGeometry | None = None
) -> MergedObject:
    """The union of the parts' geometries (points: their centroid; lines joined where they meet), the roll-up
    of their markings, the weakest of their statuses, and their ids in order (rows with the annotation's
    ``id``, ``geometry``, ``status`` and marking columns; ``shapes``: their geometries, already decoded;
    ``union``: the union of those, already made)."""
    if union is None:
        shapes = shapes if shapes is not None else [to_shape(part.geometry) for part in parts]
        union = shapely.union_all(shapes)
    markings = [
        marking_of_values(part.classification, part.sci_controls, part.dissemination, part.rel_to)
        for part in parts
    ]
    return object_of(union, markings, [part.status for part in parts], [str(part.id) for part in parts])


def object_of(
    union: BaseGeometry, markings: Iterable[Marking], statuses: Iterable[str], ids: list[str]
) -> MergedObject:
    """One object of its parts' union, markings, statuses and ids (in order)."""
    geometry = union
    if geometry.geom_type in ("Point", "MultiPoint"):
        geometry = shapely.centroid(geometry)
    elif geometry.geom_type == "MultiLineString":
        geometry = shapely.line_merge(geometry)
    present = set(statuses)
    return MergedObject(
        geometry=geometry,
        marking=rolled_up(frozenset(markings)),
        status=next(status for status in STATUS_ORDER if status in present),
        merged_from=ids,
    )


@lru_cache(maxsize=1024)
def rolled_up(markings: frozenset[Marking]) -> Marking:
    """Markings are few: each set of them rolled up once."""
    return roll_up(markings)


def merge_parts(
    parts: list[Any],
    properties_of: PropertiesOf,
    shapes: list[BaseGeometry] | None = None,
    union: BaseGeometry | None = None,
) -> ExportFeature:
    merged = merge_object(parts, shapes, union)
    properties: dict[str, Any] = dict(properties_of(parts[0]))
    properties["status"] = merged.status
    properties["merged_from"] = merged.merged_from
    return ExportFeature(
        id=str(parts[0].id), geometry=merged.geometry, marking=merged.marking, properties=properties
    )


#: What an export does unless told otherwise.
DEFAULT_RULE: Final = MergeRule()
