"""What a dataset export can write (light: the CLI and the API name these before any writer loads)."""

from __future__ import annotations

from enum import StrEnum


class DatasetFormat(StrEnum):
    STAC = "stac"
    COCO = "coco"
    MASKS = "masks"
    YOLO = "yolo"


class DatasetImages(StrEnum):
    """What ``images/`` holds: the chips' COGs (every band, full depth) or their 8-bit previews (JPEG, for
    RGB models)."""

    COG = "cog"
    PREVIEW = "preview"
