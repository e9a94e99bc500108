"""Imagery errors: one class per thing an operator can fix, each message a single actionable sentence."""

from __future__ import annotations


class ImageryError(Exception):
    """Base class of every error raised while opening or describing an image."""


class ImageNotFoundError(ImageryError):
    """The path does not exist or is not a regular file."""


class NotARasterError(ImageryError):
    """GDAL recognises no raster format in the file."""


class NotGeoreferencedError(ImageryError):
    """The image has neither a geotransform with a CRS, nor GCPs, nor RPCs."""


class EmptyImageError(ImageryError):
    """The image has zero rows, columns or bands."""


class ImplausibleDimensionsError(ImageryError):
    """The header claims dimensions no real sensor produces (a corrupt or hostile file)."""


class CorruptImageError(ImageryError):
    """The header opened but the pixel data cannot be read: truncated or damaged file."""


class SecurityMarkingError(ImageryError):
    """The file's security fields cannot be mapped to a marking: never read as UNCLASSIFIED."""


class PixelGridError(ImageryError):
    """An image's own pixel grid cannot be mapped to the ground (its file is no longer where it was)."""
