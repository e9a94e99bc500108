"""COCO instance files, one per split: ``annotations/instances_{split}.json`` in chip pixel coordinates.

Each polygon label is one COCO annotation: its ``segmentation`` the polygon's outer rings (COCO's polygon
form, which has no holes), or run-length encoded (COCO's uncompressed RLE, column-major) when it has holes;
``bbox`` is ``[x, y, width, height]`` and ``area`` the shape's area in pixels. COCO has no points or lines:
those labels are counted in the report and left out. The files are assembled from per-split spools at the
end, so memory does not grow with the project; the banner is the file's first key.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
from rasterio import features
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from access_control import Marking
from geo_label.datasets.items import ChipItem, DatasetContext, polygonal

#: Decimals of pixel coordinates (a hundredth of a pixel).
DECIMALS = 2


class CocoWriter:
    def __init__(self, context: DatasetContext) -> None:
        self._context = context
        self._folder = context.root / "annotations"
        self._folder.mkdir()
        self._spool = context.root / ".coco"
        self._spool.mkdir()
        self._images: dict[str, IO[bytes]] = {}
        self._annotations: dict[str, IO[bytes]] = {}
        for split in context.splits:
            self._images[split] = (self._spool / f"{split}.images").open("wb")
            self._annotations[split] = (self._spool / f"{split}.annotations").open("wb")
        self._image_id = 0
        self._annotation_id = 0
        self._counts: dict[str, Counter[str]] = {split: Counter() for split in context.splits}
        self._image_counts: Counter[str] = Counter()
        self._left_out: Counter[str] = Counter()

    def chip(self, item: ChipItem) -> None:
        self._image_id += 1
        chip = item.chip
        image = {
            "id": self._image_id,
            "file_name": item.image_file,
            "width": chip.width,
            "height": chip.height,
            "chip_id": chip.id,
            "image_id": chip.image_id,
            "marking": chip.marking.portion(),
            "date_captured": chip.datetime.isoformat(),
        }
        _append(self._images[item.split], image)
        self._image_counts[item.split] += 1
        out = self._annotations[item.split]
        for label, shape in zip(item.labels, item.pixels, strict=True):
            category = self._context.categories.id_of(label.label_class)
            polygons = polygonal(shape)
            if category is None or not polygons:
                if label.geometry.geom_type not in ("Polygon", "MultiPolygon"):
                    self._left_out[label.geometry.geom_type] += 1
                continue
            self._annotation_id += 1
            _append(
                out, self._annotation(label.id, category, polygons, shape, chip.width, chip.height, label)
            )
            self._counts[item.split][label.label_class] += 1

    def _annotation(
        self,
        label_id: str,
        category: int,
        polygons: list[Polygon],
        shape: BaseGeometry,
        width: int,
        height: int,
        label: Any,
    ) -> dict[str, Any]:
        xmin, ymin, xmax, ymax = shape.bounds
        if any(polygon.interiors for polygon in polygons):
            segmentation: Any = rle(polygons, width, height)
        else:
            segmentation = [ring(polygon.exterior.coords) for polygon in polygons]
        return {
            "id": self._annotation_id,
            "image_id": self._image_id,
            "category_id": category,
            "segmentation": segmentation,
            "area": round(sum(polygon.area for polygon in polygons), DECIMALS),
            "bbox": [
                round(xmin, DECIMALS),
                round(ymin, DECIMALS),
                round(xmax - xmin, DECIMALS),
                round(ymax - ymin, DECIMALS),
            ],
            "iscrowd": 0,
            "label_id": label_id,
            "marking": label.marking.portion(),
            "status": label.status,
            "source": label.source,
            "score": label.confidence,
        }

    def finish(self, banner: Marking) -> dict[str, Any]:
        context = self._context
        categories = [
            {"id": index + 1, "name": name, "supercategory": context.project}
            for index, name in enumerate(context.categories.names)
        ]
        for split in context.splits:
            self._images[split].close()
            self._annotations[split].close()
            head = {
                "marking": banner.banner(),
                "info": {
                    "description": f"{context.project}: {split} split, exported by GeoLabel",
                    "marking": banner.banner(),
                    "date_created": context.exported_at.isoformat(),
                    "contributor": context.exported_by,
                    "recipient": context.recipient,
                },
                "licenses": [],
                "categories": categories,
            }
            with (self._folder / f"instances_{split}.json").open("wb") as out:
                out.write(orjson.dumps(head)[:-1])
                _copy_array(out, b',"images":[', self._spool / f"{split}.images")
                _copy_array(out, b',"annotations":[', self._spool / f"{split}.annotations")
                out.write(b"}\n")
        shutil.rmtree(self._spool)
        return {
            "images": dict(self._image_counts),
            "annotations": {split: dict(counts) for split, counts in self._counts.items()},
            "left_out": dict(self._left_out),
        }


def ring(coords: Any) -> list[float]:
    """A COCO polygon: x1, y1, x2, y2, ... without the closing point."""
    points = np.asarray(coords)[:-1]
    return [round(float(v), DECIMALS) for v in points.ravel()]


def rle(polygons: list[Polygon], width: int, height: int) -> dict[str, Any]:
    """COCO's uncompressed run-length encoding of the polygons' pixels: counts of alternating 0 and 1 runs
    over the mask read column by column, starting with zeros."""
    mask = features.rasterize(polygons, out_shape=(height, width), fill=0, default_value=1, dtype="uint8")
    flat = np.asfortranarray(mask).ravel(order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0, *counts]
    return {"size": [height, width], "counts": counts}


def _append(out: IO[bytes], value: dict[str, Any]) -> None:
    if out.tell():
        out.write(b",")
    out.write(orjson.dumps(value))


def _copy_array(out: IO[bytes], opening: bytes, spool: Path) -> None:
    out.write(opening)
    with spool.open("rb") as source:
        shutil.copyfileobj(source, out, 1 << 20)
    out.write(b"]")
