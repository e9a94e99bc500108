"""YOLO detection labels, as Ultralytics and Darknet read them.

``labels/{chip_id}.txt`` beside ``images/`` (a trainer finds a label file by putting ``labels`` for
``images`` in the image's path): one line per polygon label, ``class cx cy w h`` with the box of the label's
part on the chip, normalised to 0..1, classes from 0 in schema order; an empty file for a chip without
objects (a negative). ``{split}.txt`` lists each split's images and ``data.yaml`` ties them together, the
banner in its first line. YOLO's text has no room for markings: ``chips.csv`` gives each chip's.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from access_control import Marking
from geo_label.datasets.items import ChipItem, DatasetContext, polygonal


class YoloWriter:
    def __init__(self, context: DatasetContext) -> None:
        self._context = context
        self._folder = context.root / "labels"
        self._folder.mkdir()
        self._lists = {split: (context.root / f"{split}.txt").open("w") for split in context.splits}
        self._counts: dict[str, Counter[str]] = {split: Counter() for split in context.splits}

    def chip(self, item: ChipItem) -> None:
        chip = item.chip
        lines = []
        for label, shape in zip(item.labels, item.pixels, strict=True):
            category = self._context.categories.id_of(label.label_class)
            parts = polygonal(shape)
            if category is None or not parts:
                continue
            xmin, ymin, xmax, ymax = shape.bounds
            cx, cy = (xmin + xmax) / 2 / chip.width, (ymin + ymax) / 2 / chip.height
            w, h = (xmax - xmin) / chip.width, (ymax - ymin) / chip.height
            lines.append(f"{category - 1} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
            self._counts[item.split][label.label_class] += 1
        (self._folder / f"{chip.id}.txt").write_text("".join(lines))
        self._lists[item.split].write(f"images/{item.image_file}\n")

    def finish(self, banner: Marking) -> dict[str, Any]:
        for handle in self._lists.values():
            handle.close()
        names = "".join(
            f"  {index}: {_yaml_text(name)}\n" for index, name in enumerate(self._context.categories.names)
        )
        splits = "".join(f"{split}: {split}.txt\n" for split in self._context.splits)
        head = f"# {banner.banner()}\n# {self._context.project}, exported by GeoLabel\n"
        (self._context.root / "data.yaml").write_text(f"{head}path: .\n{splits}names:\n{names}")
        return {"boxes": {split: dict(counts) for split, counts in self._counts.items()}}


def _yaml_text(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of it)."""
    return orjson.dumps(text).decode()
