"""The `geo-label` command: the composition root that wires settings, imagery, tiling, storage, services and
the web service. Every failure a user can cause ends in one line on stderr and a non-zero exit, never a
traceback."""

from __future__ import annotations

import os
import sys

from sqlalchemy.exc import DBAPIError

from geo_label.cli import demo_command, imagery_commands, service_commands  # noqa: F401  (registers commands)
from geo_label.cli.common import USER_ERRORS, CliError, app
from geo_label.console import stderr
from geo_label.settings import load_settings

__all__ = ["app", "main"]


def quiet_gdal() -> None:
    """GDAL's decoder threads report errors through its default handler, straight to stderr, as extra
    "ERROR 1: ..." lines beside GeoLabel's one-line message (which already quotes GDAL's reason). Send the
    default handler's output nowhere unless debugging."""
    if os.environ.get("GEO_LABEL_DEBUG", "").lower() not in ("1", "true", "yes"):
        os.environ.setdefault("CPL_LOG", os.devnull)


def main() -> None:
    """Entry point of the console script."""
    quiet_gdal()
    try:
        app()
    except (CliError, *USER_ERRORS) as exc:
        stderr.print(f"geo-label: error: {one_line(exc)}", markup=False)
        sys.exit(1)
    except DBAPIError as exc:
        stderr.print(f"geo-label: error: database: {one_line(exc.orig or exc)}", markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        stderr.print("geo-label: interrupted", markup=False)
        sys.exit(130)
    except Exception as exc:  # the last line of defence: never a traceback unless asked for
        if load_settings().debug:
            raise
        stderr.print(
            f"geo-label: internal error: {type(exc).__name__}: {one_line(exc)} "
            "(set GEO_LABEL_DEBUG=1 for details)",
            markup=False,
        )
        sys.exit(70)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
