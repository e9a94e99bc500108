"""Tiling errors (image-level problems surface as :class:`imagery.ImageryError`)."""

from __future__ import annotations


class TilingError(Exception):
    """Base class of every tiling error; the message is one sentence a person can act on."""


class OutputConflictError(TilingError):
    """The output folder holds chips of another image or other parameters, or another run is using it."""


class SchedulerUnavailableError(TilingError):
    """The dask.distributed scheduler given by address cannot be reached."""
