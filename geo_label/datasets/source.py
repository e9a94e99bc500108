"""What goes into a dataset: the chips and the labels the caller (and the recipient) may read.

A chip is in a dataset when it carries at least one selected label, or when its labeling is finished (a task
of it accepted, or submitted when no status filter asks for accepted labels only): such a chip with no label
is a true negative, whereas a chip nobody labeled yet would teach a model that its objects are background.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely
from affine import Affine
from shapely.geometry.base import BaseGeometry
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from access_control import Marking
from geo_label.db.access import readable_for
from geo_label.db.context import Caller
from geo_label.db.models import ANNOTATIONS, CHIPS, IMAGES, TASKS
from geo_label.export.geojson import EncodedFeatures, ExportFeature, encode_each
from geo_label.markings import marking_of_values

#: Rows fetched from the server per round trip while streaming labels.
FETCH = 2000


@dataclass(frozen=True)
class DatasetChip:
    id: str
    image_id: str
    image_name: str
    path: str
    preview_path: str
    row_off: int
    col_off: int
    width: int
    height: int
    stride: int
    transform: Affine
    crs_wkt: str
    gsd_m: float
    datetime: datetime
    sensor: str | None
    footprint: BaseGeometry
    valid_fraction: float
    marking: Marking


@dataclass(frozen=True)
class DatasetLabel:
    id: str
    chip_id: str
    label_class: str
    attributes: dict[str, Any]
    status: str
    source: str
    confidence: float | None
    version: int
    geometry: BaseGeometry
    marking: Marking
    #: The label as a GeoJSON Feature, when a writer needs it (see :func:`with_features`).
    feature: EncodedFeatures | None = None


def label_filter(
    caller: Caller, project_id: uuid.UUID, recipient: str | None, statuses: tuple[str, ...]
) -> Any:
    a = ANNOTATIONS
    rules = [a.c.project_id == project_id, readable_for(a, caller, recipient)]
    if statuses:
        rules.append(a.c.status.in_(statuses))
    return and_(*rules)


def dataset_chips(
    session: Session,
    caller: Caller,
    project_id: uuid.UUID,
    recipient: str | None,
    statuses: tuple[str, ...],
) -> list[DatasetChip]:
    """The chips of the dataset (see the module docstring), readable with their image, in id order."""
    c, i, a, t = CHIPS, IMAGES, ANNOTATIONS, TASKS
    finished = ("accepted",) if statuses == ("accepted",) else ("submitted", "accepted")
    labeled = exists().where(a.c.chip_id == c.c.id, label_filter(caller, project_id, recipient, statuses))
    done = exists().where(t.c.chip_id == c.c.id, t.c.state.in_(finished))
    rows = session.execute(
        select(
            c.c.id,
            c.c.image_id,
            i.c.name.label("image_name"),
            c.c.path,
            c.c.preview_path,
            c.c.row_off,
            c.c.col_off,
            c.c.width,
            c.c.height,
            (i.c.chip_size - i.c.chip_overlap).label("stride"),
            i.c.transform,
            i.c.crs_wkt,
            i.c.gsd_m,
            func.coalesce(i.c.acquired_at, i.c.ingested_at).label("datetime"),
            i.c.sensor,
            func.ST_AsBinary(c.c.footprint).label("footprint"),
            c.c.valid_fraction,
            c.c.classification,
            c.c.sci_controls,
            c.c.dissemination,
            c.c.rel_to,
        )
        .join(i, i.c.id == c.c.image_id)
        .where(
            c.c.project_id == project_id,
            readable_for(c, caller, recipient),
            readable_for(i, caller, recipient),
            or_(labeled, done),
        )
        .order_by(c.c.id)  # as the labels are streamed (by chip id), so the two can be read side by side
    ).all()
    return [
        DatasetChip(
            id=str(row.id),
            image_id=str(row.image_id),
            image_name=row.image_name,
            path=row.path,
            preview_path=row.preview_path,
            row_off=row.row_off,
            col_off=row.col_off,
            width=row.width,
            height=row.height,
            stride=max(1, row.stride),
            transform=Affine(*row.transform[:6]),
            crs_wkt=row.crs_wkt,
            gsd_m=row.gsd_m,
            datetime=row.datetime,
            sensor=row.sensor,
            footprint=shapely.from_wkb(bytes(row.footprint)),
            valid_fraction=row.valid_fraction,
            marking=marking_of_values(row.classification, row.sci_controls, row.dissemination, row.rel_to),
        )
        for row in rows
    ]


def dataset_labels(
    session: Session,
    caller: Caller,
    project_id: uuid.UUID,
    recipient: str | None,
    statuses: tuple[str, ...],
) -> Iterator[DatasetLabel]:
    """The selected labels, streamed in chip order (then id), so a writer holds one chip's labels at once."""
    a = ANNOTATIONS
    statement = (
        select(
            a.c.id,
            a.c.chip_id,
            a.c.label_class,
            a.c.attributes,
            a.c.status,
            a.c.source,
            a.c.confidence,
            a.c.version,
            func.ST_AsBinary(a.c.geometry).label("geometry"),
            a.c.classification,
            a.c.sci_controls,
            a.c.dissemination,
            a.c.rel_to,
        )
        .where(label_filter(caller, project_id, recipient, statuses))
        .order_by(a.c.chip_id, a.c.id)
        .execution_options(yield_per=FETCH)
    )
    markings: dict[tuple[Any, ...], Marking] = {}
    for partition in session.execute(statement).partitions():
        shapes = shapely.from_wkb([bytes(row.geometry) for row in partition])
        for row, shape in zip(partition, shapes, strict=True):
            key = (row.classification, tuple(row.sci_controls), tuple(row.dissemination), tuple(row.rel_to))
            marking = markings.get(key)
            if marking is None:
                marking = markings[key] = marking_of_values(*key)
            yield DatasetLabel(
                id=str(row.id),
                chip_id=str(row.chip_id),
                label_class=row.label_class,
                attributes=row.attributes or {},
                status=row.status,
                source=row.source,
                confidence=row.confidence,
                version=row.version,
                geometry=shape,
                marking=marking,
            )


def with_features(labels: Iterator[DatasetLabel], precision: int = 7) -> Iterator[DatasetLabel]:
    """The labels with their GeoJSON Feature, encoded :data:`FETCH` at a time (encoding a chip's few labels
    apart would cost several times more)."""
    while chunk := list(itertools.islice(labels, FETCH)):
        features = [
            ExportFeature(
                id=label.id,
                geometry=label.geometry,
                marking=label.marking,
                properties={
                    "class": label.label_class,
                    "attributes": label.attributes,
                    "status": label.status,
                    "source": label.source,
                    "confidence": label.confidence,
                    "version": label.version,
                    "chip_id": label.chip_id,
                },
            )
            for label in chunk
        ]
        for label, feature in zip(chunk, encode_each(features, precision), strict=True):
            yield dataclasses.replace(label, feature=feature)
