"""What every dataset writer is handed, one chip at a time, and what each must do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from access_control import Marking
from geo_label.datasets.source import DatasetChip, DatasetLabel

#: Mask value of pixels no label covers on a labeled chip.
BACKGROUND = 0
#: Mask value of pixels with no data (outside the image, or the image's own nodata).
UNLABELED = 255


@dataclass(frozen=True)
class Categories:
    """The project's classes in schema order: category (and mask) ids from 1."""

    names: tuple[str, ...]

    def id_of(self, name: str) -> int | None:
        try:
            return self.names.index(name) + 1
        except ValueError:
            return None


@dataclass(frozen=True)
class ChipItem:
    """One chip of the dataset: its split, its image file (relative to the dataset's ``images/``), its labels
    and the same labels on the chip's pixel grid (``pixels[i]`` is ``labels[i]``, clipped to the chip, maybe
    empty), and ``marking``, the roll-up of the chip and its labels."""

    chip: DatasetChip
    split: str
    image_file: str
    labels: list[DatasetLabel]
    pixels: list[BaseGeometry]
    marking: Marking


@dataclass(frozen=True)
class DatasetContext:
    root: Path
    project: str
    categories: Categories
    exported_by: str
    exported_at: datetime
    recipient: str | None
    splits: tuple[str, ...]


class DatasetWriter(Protocol):
    """Writes one format: :meth:`chip` per chip in the dataset's order, then :meth:`finish` with the banner of
    the whole dataset, which returns what the format's report says."""

    def chip(self, item: ChipItem) -> None: ...

    def finish(self, banner: Marking) -> dict[str, Any]: ...


def polygonal(geometry: BaseGeometry) -> list[Polygon]:
    """The polygons of a clipped label (a clip may add slivers of lower dimension)."""
    return [part for part in shapely.get_parts(geometry) if part.geom_type == "Polygon" and not part.is_empty]
