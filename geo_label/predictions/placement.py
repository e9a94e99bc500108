"""Which chip a prediction belongs to: exactly one, so that it is shown, counted and exported once.

Chips overlap, so an object near a chip's edge lies on two or four of them. The rule:

1. Candidates are the chips it intersects, of its image: the image its record names (``image_id``), the
   import's ``--image``, or, when neither names one, the only image it lies on (a record on two images'
   chips is refused as ambiguous: the import cannot know which scene the model looked at).
2. Of the candidates that hold it whole (within the same 1% tolerance as a drawn annotation), the one whose
   centre is nearest its centroid: the chip in whose core it lies, as the export's merge rule counts cores.
3. An object that no chip holds whole (larger than the overlap and lying across a chip edge) goes, whole,
   to the chip that holds the largest part of it (area, or length for lines). Accepting it into an
   annotation clips it to that chip, as a labeler drawing it there would.

Ties go to the lower chip id, so the same file always lands the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy.orm import Session

from access_control import Marking
from geo_label.chips import chip_query
from geo_label.db.context import Caller
from geo_label.db.models import CHIPS
from geo_label.geometry import CHIP_TOLERANCE
from geo_label.markings import marking_of

NOWHERE = -1


@dataclass
class ChipIndex:
    """The readable chips of a project (or of one image) with an R-tree over their footprints."""

    ids: list[uuid.UUID]
    image_of: np.ndarray  #: per chip, the index of its image in ``images``
    images: list[uuid.UUID]
    markings: list[Marking]  #: the distinct markings of the chips
    marking_of: np.ndarray  #: per chip, the index of its marking in ``markings``
    footprints: np.ndarray
    holding: np.ndarray  #: footprints grown by the tolerance a drawn annotation gets
    centres: np.ndarray
    tree: shapely.STRtree
    id_text: list[str] = field(init=False)
    image_text: list[str] = field(init=False)
    image_numbers: dict[uuid.UUID, int] = field(init=False)

    def __post_init__(self) -> None:
        self.id_text = [str(chip_id) for chip_id in self.ids]
        self.image_text = [str(image_id) for image_id in self.images]
        self.image_numbers = {image_id: n for n, image_id in enumerate(self.images)}

    @classmethod
    def load(
        cls, session: Session, caller: Caller, project_id: uuid.UUID, image_id: uuid.UUID | None = None
    ) -> ChipIndex:
        query = chip_query(caller, project_id=project_id, image_id=image_id).with_only_columns(
            CHIPS.c.id,
            CHIPS.c.image_id,
            CHIPS.c.footprint,
            CHIPS.c.classification,
            CHIPS.c.sci_controls,
            CHIPS.c.dissemination,
            CHIPS.c.rel_to,
        )
        rows = list(session.execute(query.order_by(CHIPS.c.id)).mappings())
        images = sorted({row["image_id"] for row in rows})
        image_number = {image: n for n, image in enumerate(images)}
        footprints = np.asarray([to_shape(row["footprint"]) for row in rows], dtype=object)
        bounds = shapely.bounds(footprints) if len(rows) else np.zeros((0, 4))
        extent = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
        chip_markings = [marking_of(row) for row in rows]
        markings = list(dict.fromkeys(chip_markings))
        number = {marking: n for n, marking in enumerate(markings)}
        return cls(
            ids=[row["id"] for row in rows],
            image_of=np.asarray([image_number[row["image_id"]] for row in rows], dtype=np.int64),
            images=images,
            markings=markings,
            marking_of=np.asarray([number[m] for m in chip_markings], dtype=np.int64),
            footprints=footprints,
            holding=shapely.buffer(footprints, CHIP_TOLERANCE * extent) if len(rows) else footprints,
            centres=shapely.get_coordinates(shapely.centroid(footprints)) if len(rows) else np.zeros((0, 2)),
            tree=shapely.STRtree(footprints),
        )

    def image_number(self, image_id: uuid.UUID) -> int | None:
        return self.image_numbers.get(image_id)

    def place(
        self, geometries: Sequence[Any], wanted_images: Sequence[int | None], problems: list[str | None]
    ) -> np.ndarray:
        """The chip (an index into ``ids``) of each geometry, or NOWHERE with the reason in ``problems``.

        ``wanted_images[i]`` is the image record i must lie on (an index into ``images``), or None for any.
        """
        count = len(geometries)
        chosen = np.full(count, NOWHERE, dtype=np.int64)
        todo = [i for i in range(count) if geometries[i] is not None and problems[i] is None]
        if not todo or not self.ids:
            for i in todo:
                problems[i] = "it lies on no chip of the project's images that you may read"
            return chosen
        shapes: np.ndarray = np.empty(len(todo), dtype=object)
        shapes[:] = [geometries[i] for i in todo]
        record, chip = self.tree.query(shapes, predicate="intersects")
        wanted = np.asarray(
            [-1 if wanted_images[i] is None else wanted_images[i] for i in todo], dtype=np.int64
        )
        keep = (wanted[record] < 0) | (self.image_of[chip] == wanted[record])
        record, chip = record[keep], chip[keep]
        images_of = self._images_of_ambiguous(record, chip, len(todo))
        unambiguous = ~np.isin(record, list(images_of))
        record, chip = record[unambiguous], chip[unambiguous]
        # A record on one chip only belongs to it; the rest (objects in an overlap) are decided by the rule.
        candidates = np.bincount(record, minlength=len(todo))
        single = candidates[record] == 1
        for r, c in zip(record[single], chip[single], strict=True):
            chosen[todo[r]] = c
        record, chip = record[~single], chip[~single]
        holds = shapely.covers(self.holding[chip], shapes[record])
        centroids = shapely.get_coordinates(shapely.centroid(shapes[record]))
        distance = np.sum((centroids - self.centres[chip]) ** 2, axis=1)
        part = np.zeros(len(record))
        needs_part = ~np.isin(record, record[holds])
        if needs_part.any():
            overlap = shapely.intersection(self.footprints[chip[needs_part]], shapes[record[needs_part]])
            part[needs_part] = np.maximum(shapely.area(overlap), shapely.length(overlap))
        # Per record: the chips that hold it, nearest centre first (their parts are all 0); else the largest
        # part; ties to the lower id. (lexsort's last key is the first.)
        order = np.lexsort((chip, distance, -part, ~holds, record))
        first = np.ones(len(order), dtype=bool)
        first[1:] = record[order][1:] != record[order][:-1]
        best = order[first]
        for r, c in zip(record[best], chip[best], strict=True):
            chosen[todo[r]] = c
        for k, i in enumerate(todo):
            if k in images_of:
                names = ", ".join(str(self.images[n]) for n in images_of[k])
                problems[i] = (
                    f"it lies on {len(images_of[k])} images ({names}); say which with the feature's "
                    "image_id or the import's image"
                )
            elif chosen[i] == NOWHERE:
                problems[i] = (
                    "it lies on no chip of the project's images that you may read"
                    if wanted_images[i] is None
                    else "it lies on no chip of its image that you may read"
                )
        return chosen

    def _images_of_ambiguous(self, record: np.ndarray, chip: np.ndarray, count: int) -> dict[int, list[int]]:
        """The records that intersect chips of more than one image, with those images."""
        if not len(record):
            return {}
        pairs = np.unique(np.column_stack([record, self.image_of[chip]]), axis=0)
        images_per_record = np.bincount(pairs[:, 0], minlength=count)
        found: dict[int, list[int]] = {}
        for k, image in pairs[images_per_record[pairs[:, 0]] > 1]:
            found.setdefault(int(k), []).append(int(image))
        return found
