"""The `geo-label` Typer app and what every command shares: settings, the registry, errors as one line."""

from __future__ import annotations

import typer

from access_control import MarkingError, MarkingRegistry, default_registry, load_registry
from geo_label.errors import GeoLabelError
from geo_label.settings import Settings
from imagery import ImageryError
from tiling import TilingError

app = typer.Typer(
    name="geo-label",
    help="GeoLabel: label classified satellite imagery, offline. Start with `geo-label inspect IMAGE`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: Errors a user can cause and fix; shown as one line, exit status 1.
USER_ERRORS = (ImageryError, TilingError, MarkingError, GeoLabelError, OSError)


class CliError(Exception):
    """A problem with the command's own arguments, found after parsing."""


def registry_for(settings: Settings) -> MarkingRegistry:
    return load_registry(settings.marking_registry) if settings.marking_registry else default_registry()
