"""The Dask chip pipeline: cut an image into overlapping georeferenced COG chips, previews and an index."""

from tiling.errors import OutputConflictError, SchedulerUnavailableError, TilingError
from tiling.index import INDEX_NAME
from tiling.job import Compression, TileParameters
from tiling.pipeline import TileSummary, tile_image
from tiling.scheduler import LocalMode, SchedulerChoice
from tiling.windows import ChipWindow, axis_offsets, chip_windows

__all__ = [
    "INDEX_NAME",
    "ChipWindow",
    "Compression",
    "LocalMode",
    "OutputConflictError",
    "SchedulerChoice",
    "SchedulerUnavailableError",
    "TileParameters",
    "TileSummary",
    "TilingError",
    "axis_offsets",
    "chip_windows",
    "tile_image",
]
