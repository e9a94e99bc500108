"""Segmentation masks: ``masks/{chip_id}.tif``, one band of class ids on the chip's own grid.

0 is background, 1..N the project's classes in schema order, 255 a pixel with no data (outside the image or
the image's own nodata; also the file's nodata value). Labels are burned with rasterio's rasterize (GDAL's
rule: a pixel whose centre lies inside a polygon; every pixel a line or point touches), larger shapes first so
that a small object drawn on a larger one stays visible. Each mask carries the roll-up marking of the chip and
its labels in its ``GEO_LABEL_MARKING`` tag, as the chips do.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any

import numpy as np
import rasterio
from rasterio import features
from rasterio.crs import CRS

from access_control import Marking
from geo_label.datasets.items import BACKGROUND, UNLABELED, ChipItem, DatasetContext
from geo_label.datasets.pixels import chip_affine

#: rasterio's profile for a mask: small, tiled, lossless.
PROFILE: dict[str, Any] = {
    "driver": "GTiff",
    "dtype": "uint8",
    "count": 1,
    "nodata": UNLABELED,
    # PackBits: run-length coding, which suits masks (runs of one class id) and writes in about half the
    # time of DEFLATE (see benchmarks/README.md); every TIFF reader has it.
    "compress": "packbits",
}


class MaskWriter:
    def __init__(self, context: DatasetContext) -> None:
        if len(context.categories.names) >= UNLABELED:
            raise ValueError(f"masks hold at most {UNLABELED - 1} classes")
        self._context = context
        self._folder = context.root / "masks"
        self._folder.mkdir()
        self._pixels: Counter[str] = Counter()
        self._masks = 0

    def chip(self, item: ChipItem) -> None:
        chip = item.chip
        shapes = [
            (shape, category)
            for label, shape in zip(item.labels, item.pixels, strict=True)
            if not shape.is_empty and (category := self._context.categories.id_of(label.label_class))
        ]
        shapes.sort(key=lambda pair: -pair[0].area)
        out_shape = (chip.height, chip.width)
        if shapes:
            mask = features.rasterize(shapes, out_shape=out_shape, fill=BACKGROUND, dtype="uint8")
        else:
            mask = np.full(out_shape, BACKGROUND, dtype=np.uint8)
        if chip.valid_fraction < 1.0:
            with rasterio.open(chip.path) as source:
                valid = source.dataset_mask()
            mask[valid == 0] = UNLABELED
        profile = {
            **PROFILE,
            "width": chip.width,
            "height": chip.height,
            "crs": _crs(chip.crs_wkt),
            "transform": chip_affine(chip),
        }
        with rasterio.open(self._folder / f"{chip.id}.tif", "w", **profile) as out:
            out.write(mask, 1)
            out.update_tags(GEO_LABEL_MARKING=item.marking.banner())
        counts = np.bincount(mask.ravel(), minlength=UNLABELED + 1)
        names = ("background", *self._context.categories.names)
        for value in np.flatnonzero(counts).tolist():
            self._pixels[names[value] if value < len(names) else "nodata"] += int(counts[value])
        self._masks += 1

    def finish(self, banner: Marking) -> dict[str, Any]:
        return {"masks": self._masks, "pixels": dict(self._pixels)}


@lru_cache(maxsize=64)
def _crs(wkt: str) -> CRS:
    return CRS.from_wkt(wkt)
