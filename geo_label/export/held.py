"""One object, once, inside the export's own stream: only features near another chip are held back.

An object can be labeled on two chips only where the chips overlap, so a feature that lies well inside the
part of its chip no other chip reaches (the chip's **core**) cannot be a part of one (see
:mod:`geo_label.export.merge` for the rule). The export's single COPY stream marks each row: a feature inside
its chip's core is written at once, as without merging; the others (the overlap bands, about a quarter of
the features with 64 px overlaps on 512 px chips) are held back, paired and tested in memory when the stream
ends, merged where they are parts of one object, and written after.

Cores are axis-aligned boxes in lon/lat, one per chip: the chip's box, cut on each side at the nearest edge
of the boxes of the image's other chips on that side, those widened by the tolerance a label may stray past
its chip (geo_label.geometry.CHIP_TOLERANCE) and twice the merge distance. A feature whose own box lies
strictly inside its chip's core can therefore meet no feature of another chip, wherever that one strays.
Chips of an image that crosses the antimeridian have no core (all their features are held back). Held lines
wait in a spool file, so memory does not grow with them.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ARRAY, Float, and_, bindparam, case, func, select
from sqlalchemy.orm import Session

from access_control import Marking
from geo_label.db.bulk import id_array
from geo_label.db.models import ANNOTATIONS, CHIPS
from geo_label.export.geojson import EncodedFeatures, ExportFeature
from geo_label.export.merge import (
    METRES_PER_DEGREE,
    Boxes,
    MergeRule,
    alike_pairs,
    candidate_indexes,
    groups_of,
    merge_keys,
    object_of,
    parse_boxes,
    unions_of,
)
from geo_label.export.postgis import BATCH, HELD, LineDecoder
from geo_label.geometry import CHIP_TOLERANCE

_NULL = b"\\N"


@dataclass(frozen=True)
class ChipCores:
    chip_ids: list[uuid.UUID]
    boxes: NDArray[np.float64]  # xmin, ymin, xmax, ymax per chip; an empty core has xmin > xmax


def chip_cores(session: Session, project_id: uuid.UUID, rule: MergeRule) -> ChipCores:
    """The core of every chip of the project the caller can see (a chip they cannot see carries nothing
    they can read)."""
    footprint = CHIPS.c.footprint
    rows = session.execute(
        select(
            CHIPS.c.id,
            CHIPS.c.image_id,
            func.ST_XMin(footprint),
            func.ST_YMin(footprint),
            func.ST_XMax(footprint),
            func.ST_YMax(footprint),
        ).where(CHIPS.c.project_id == project_id)
    ).all()
    if not rows:
        return ChipCores([], np.empty((0, 4)))
    ids = [row[0] for row in rows]
    images = np.unique([str(row[1]) for row in rows], return_inverse=True)[1]
    boxes = np.asarray([row[2:6] for row in rows], dtype=np.float64)
    reach = 2 * rule.distance_m / (METRES_PER_DEGREE * 0.1)
    margin = CHIP_TOLERANCE * np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) + reach
    reached = boxes + np.column_stack([-margin, -margin, margin, margin])
    cores = boxes.copy()
    tree = shapely.STRtree(shapely.box(reached[:, 0], reached[:, 1], reached[:, 2], reached[:, 3]))
    chip, other = tree.query(shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]), "intersects")
    keep = (chip != other) & (images[chip] == images[other])
    chip, other = chip[keep], other[keep]
    dx = (boxes[other, 0] + boxes[other, 2] - boxes[chip, 0] - boxes[chip, 2]) / 2
    dy = (boxes[other, 1] + boxes[other, 3] - boxes[chip, 1] - boxes[chip, 3]) / 2
    across = np.abs(dx) >= np.abs(dy)
    west, east = across & (dx < 0), across & (dx >= 0)
    south, north = ~across & (dy < 0), ~across & (dy >= 0)
    np.maximum.at(cores[:, 0], chip[west], reached[other[west], 2])
    np.minimum.at(cores[:, 2], chip[east], reached[other[east], 0])
    np.maximum.at(cores[:, 1], chip[south], reached[other[south], 3])
    np.minimum.at(cores[:, 3], chip[north], reached[other[north], 1])
    crossing = np.zeros(images.max() + 1, dtype=bool)
    crossing[images[boxes[:, 2] - boxes[:, 0] > 180.0]] = True
    cores[crossing[images]] = (np.inf, np.inf, -np.inf, -np.inf)
    return ChipCores(ids, cores)


def with_held(rows: Any, cores: ChipCores) -> Any:
    """The export's select with the :data:`~geo_label.export.postgis.HELD` column: whether a row's box is not
    strictly inside its chip's core."""
    floats = ARRAY(Float())
    core = (
        func.unnest(
            id_array(cores.chip_ids),
            *(bindparam(None, cores.boxes[:, i].tolist(), type_=floats) for i in range(4)),
        )
        .table_valued("chip_id", "xmin", "ymin", "xmax", "ymax")
        .render_derived(name="core")
    )
    a = ANNOTATIONS
    geometry = a.c.geometry
    inside = and_(
        func.ST_XMin(geometry) > core.c.xmin,
        func.ST_YMin(geometry) > core.c.ymin,
        func.ST_XMax(geometry) < core.c.xmax,
        func.ST_YMax(geometry) < core.c.ymax,
    )
    # A held row says what it may be merged with (merge.merge_keys; candidates are checked again in full).
    held = case((inside, None), else_=merge_keys())
    return rows.outerjoin(core, core.c.chip_id == a.c.chip_id).add_columns(held.label(HELD))


class HeldLines:
    """The held-back lines, in a spool file on the data volume (classified content), so that memory does not
    grow with them: only each line's box and keys are kept."""

    def __init__(self, spool_dir: str | os.PathLike[str] | None) -> None:
        self._file = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 (closed by close())
        self.count = 0

    def add(self, line: bytes, text: bytes | None) -> None:
        """A held line and its finished Feature text (None: the writer's normaliser makes it)."""
        self._file.write(line)
        self._file.write(b"\n" if text is None else text + b"\n")
        self.count += 1

    def __iter__(self) -> Iterator[bytes]:
        """The held lines."""
        return (line for line, _ in self.records())

    def records(self) -> Iterator[tuple[bytes, bytes | None]]:
        """The held lines with their texts (COPY lines and Feature texts hold no raw newline)."""
        self._file.seek(0)
        lines = iter(self._file)
        for line in lines:
            text = next(lines).rstrip(b"\n")
            yield line, (text or None)

    def close(self) -> None:
        self._file.close()


def merge_held(
    session: Session, held: HeldLines, rule: MergeRule, decoder: LineDecoder
) -> tuple[Iterator[EncodedFeatures], list[ExportFeature]]:
    """The held-back lines: those that are parts of one object as one feature each, the rest as they came.

    A first reading keeps each line's box, kind and chip; the lines whose boxes meet another's are read again
    and parsed; a last reading hands the rest back to the decoder as they are."""
    if not held.count:
        return iter(()), []
    boxes = _boxes(held)
    left, right = candidate_indexes(boxes, rule)
    if not len(left):
        return _rest(held, set(), boxes, decoder), []
    wanted = set(left.tolist()) | set(right.tolist())
    fields_of = {index: _fields(line) for index, line in enumerate(held) if index in wanted}
    shapes = dict(zip(fields_of, _geometries(list(fields_of.values())), strict=True))
    records = {index: orjson.loads(fields[3]) for index, fields in fields_of.items()}
    candidates = [
        (i, j)
        for i, j in zip(left.tolist(), right.tolist(), strict=True)
        if records[i]["image_id"] == records[j]["image_id"]
        and records[i]["class"] == records[j]["class"]
        and records[i]["chip_id"] != records[j]["chip_id"]
    ]
    alike = alike_pairs(session, candidates, shapes, lambda index: uuid.UUID(boxes.ids[index]), rule)
    # Each object's parts in id order (the stream's order is the rows' age): its first part names it.
    groups = [sorted(group, key=lambda index: boxes.ids[index]) for group in groups_of(alike)]
    in_groups = {member for group in groups for member in group}
    unions = unions_of([[shapes[member] for member in group] for group in groups])
    merged = [
        _merged(
            [(fields_of[i], boxes.ids[i], records[i], decoder.marking(fields_of[i][0])) for i in group], union
        )
        for group, union in zip(groups, unions, strict=True)
    ]
    return _rest(held, in_groups, boxes, decoder), merged


def _rest(held: HeldLines, merged: set[int], boxes: Boxes, decoder: LineDecoder) -> Iterator[EncodedFeatures]:
    """The held lines not merged, as the texts decoded during the stream (those the writer's normaliser
    makes, decoded now)."""
    texts: list[bytes] = []
    markings: set[Marking] = set()
    places: list[int] = []
    slow: list[bytes] = []
    for index, (line, text) in enumerate(held.records()):
        if index in merged:
            continue
        if text is None:
            slow.append(line)
            continue
        texts.append(text)
        markings.add(decoder.marking(line[: line.index(b"\t")]))
        places.append(index)
        if len(texts) >= BATCH:
            yield EncodedFeatures(texts, frozenset(markings), boxes.bounds[places])
            texts, markings, places = [], set(), []
    if texts:
        yield EncodedFeatures(texts, frozenset(markings), boxes.bounds[places])
    yield from decoder.batches(slow)


def _boxes(held: HeldLines) -> Boxes:
    """Each held line's id, keys (its held column) and box."""
    ids: list[str] = []
    keys: list[bytes] = []
    box_texts: list[bytes] = []
    slow: dict[int, bytes] = {}
    for index, line in enumerate(held):
        fields = line.rstrip(b"\n").split(b"\t")
        ids.append(fields[1][1:-1].decode())
        keys.append(fields[-1])
        if fields[2] == _NULL:  # no box from the database lane: the geometry's own, below
            slow[index] = bytes.fromhex(fields[6].decode())
            box_texts.append(b"BOX(0 0,0 0)")
        else:
            box_texts.append(fields[5])
    boxes = parse_boxes(ids, keys, box_texts)
    if slow:
        boxes.bounds[list(slow)] = shapely.bounds(shapely.from_wkb(list(slow.values())))
    return boxes


#: A held part: its line's fields, id, properties' record and marking.
Part = tuple[list[bytes], str, dict[str, Any], Marking]


def _part(fields: list[bytes], identifier: str, record: dict[str, Any], decoder: LineDecoder) -> Part:
    return fields, identifier, record, decoder.marking(fields[0])


def _fields(line: bytes) -> list[bytes]:
    fields = line.rstrip(b"\n").split(b"\t")
    if b"\\\\" in line:  # COPY's only escape in JSON text: a backslash doubled
        fields = [field.replace(b"\\\\", b"\\") for field in fields]
    return fields


def _geometries(lines: list[list[bytes]]) -> list[BaseGeometry]:
    fast = [index for index, fields in enumerate(lines) if fields[2] != _NULL]
    slow = [index for index, fields in enumerate(lines) if fields[2] == _NULL]
    geometries: list[BaseGeometry] = [shapely.Point()] * len(lines)
    for index, shape in zip(fast, shapely.from_geojson([lines[i][2] for i in fast]), strict=True):
        geometries[index] = shape
    wkb = [bytes.fromhex(lines[i][6].decode()) for i in slow]
    for index, shape in zip(slow, shapely.from_wkb(wkb), strict=True):
        geometries[index] = shape
    return geometries


def _merged(parts: list[Part], union: BaseGeometry) -> ExportFeature:
    """One feature of an object's parts (in id order): the first part's properties, as the database lane
    wrote them, with the weakest status and every part's id."""
    merged = object_of(
        union,
        (marking for _, _, _, marking in parts),
        (record["status"] for _, _, record, _ in parts),
        [identifier for _, identifier, _, _ in parts],
    )
    fields, first_id, record, _ = parts[0]
    properties = {**record, "attributes": orjson.loads(fields[4])}
    properties["status"] = merged.status
    properties["merged_from"] = merged.merged_from
    return ExportFeature(id=first_id, geometry=merged.geometry, marking=merged.marking, properties=properties)
