"""Raster I/O and metadata: open GeoTIFF/COG, NITF and JPEG 2000, describe them, derive display contrast.

Importing this package switches PROJ's network access off (see :mod:`imagery.offline`) before any raster or
projection library is loaded.
"""

from imagery.offline import enforce_offline

enforce_offline()

from imagery.errors import (  # noqa: E402
    CorruptImageError,
    EmptyImageError,
    ImageNotFoundError,
    ImageryError,
    ImplausibleDimensionsError,
    NotARasterError,
    NotGeoreferencedError,
    SecurityMarkingError,
)
from imagery.metadata import ImageInfo, image_stretch, inspect_image  # noqa: E402
from imagery.reader import Georeferencing, OpenedRaster, open_raster, reading  # noqa: E402
from imagery.stretch import DisplayStretch, compute_stretch, valid_mask  # noqa: E402

__all__ = [
    "CorruptImageError",
    "DisplayStretch",
    "EmptyImageError",
    "Georeferencing",
    "ImageInfo",
    "ImageNotFoundError",
    "ImageryError",
    "ImplausibleDimensionsError",
    "NotARasterError",
    "NotGeoreferencedError",
    "OpenedRaster",
    "SecurityMarkingError",
    "compute_stretch",
    "enforce_offline",
    "image_stretch",
    "inspect_image",
    "open_raster",
    "reading",
    "valid_mask",
]
