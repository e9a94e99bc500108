"""The `geo-label` command: the composition root that wires settings, imagery, tiling, storage, services and
the web service. Every failure a user can cause ends in one line on stderr and a non-zero exit, never a
traceback."""

from __future__ import annotations

import gc
import importlib
import os
import sys
from typing import Any

# Only the standard library at module level: main() sets the umask and the environment GDAL and NumPy read
# before anything heavy is imported.
from geo_label.private_files import GROUP_UMASK, PRIVATE_UMASK

__all__ = ["app", "main"]

#: Modules whose import registers commands on the app, in the order `geo-label --help` lists them.
COMMAND_MODULES = (
    "demo_command",
    "imagery_commands",
    "service_commands",
    "release_commands",
    "downgrade_commands",
    "token_commands",
    "workflow_commands",
    "dataset_commands",
    "model_commands",
    "backup_commands",
    "selftest_command",
)
#: Commands that need no database: `geo-label tile` alone imports what it uses (no SQLAlchemy, FastAPI or
#: service code), which saves about a second of start-up on every run.
IMAGERY_COMMANDS = frozenset({"inspect", "tile", "sample-scene"})


def register_commands(command: str | None = None) -> Any:
    """The Typer app with the commands ``command`` needs registered (all of them when None or unknown)."""
    modules = ("imagery_commands",) if command in IMAGERY_COMMANDS else COMMAND_MODULES
    for module in modules:
        importlib.import_module(f"geo_label.cli.{module}")
    from geo_label.cli.common import app

    return app


def __getattr__(name: str) -> Any:
    """``geo_label.cli.app`` is the whole app, every command registered."""
    if name == "app":
        return register_commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def requested_command(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first argument that is not an option), if any."""
    return next((arg for arg in argv[1:] if not arg.startswith("-")), None)


def is_database_error(exc: BaseException) -> bool:
    """SQLAlchemy's DBAPIError, without importing SQLAlchemy for commands that never load it."""
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    return sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.DBAPIError)


def quiet_gdal() -> None:
    """GDAL's decoder threads report errors through its default handler, straight to stderr, as extra
    "ERROR 1: ..." lines beside GeoLabel's one-line message (which already quotes GDAL's reason). Send the
    default handler's output nowhere unless debugging."""
    if os.environ.get("GEO_LABEL_DEBUG", "").lower() not in ("1", "true", "yes"):
        os.environ.setdefault("CPL_LOG", os.devnull)


def idle_blas() -> None:
    """One OpenBLAS thread unless the user asks for more: tiling does no linear algebra, yet on import NumPy's
    OpenBLAS starts a thread per core, which spins for a while on every core the chip workers need (0.09
    CPU-s a run, measured). Must run before NumPy is imported."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> None:
    """Entry point of the console script."""
    # What GeoLabel writes is its account's alone, or its service group's to read (geo_label.private_files):
    # read from the environment here, before anything is imported or written.
    os.umask(GROUP_UMASK if os.environ.get("GEO_LABEL_SERVICE_GROUP") else PRIVATE_UMASK)
    quiet_gdal()
    command = requested_command(sys.argv)
    if command == "tile":
        idle_blas()
    # Imports make few cycles, but the collections they trigger walk the whole growing heap (~0.1 s for the
    # tile command): collect nothing until the imports are done, and spare those objects from then on.
    gc.disable()
    try:
        from geo_label.cli.common import USER_ERRORS, CliError
        from geo_label.console import stderr
        from geo_label.settings import load_settings

        app = register_commands(command)
    finally:
        gc.freeze()
        gc.enable()
    try:
        app()
    except (CliError, *USER_ERRORS) as exc:
        stderr.print(f"geo-label: error: {one_line(exc)}", markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        stderr.print("geo-label: interrupted", markup=False)
        sys.exit(130)
    except Exception as exc:  # the last line of defence: never a traceback unless asked for
        if is_database_error(exc):
            reason = getattr(exc, "orig", None) or exc
            stderr.print(f"geo-label: error: database: {one_line(reason)}", markup=False)
            sys.exit(1)
        if load_settings().debug:
            raise
        stderr.print(
            f"geo-label: internal error: {type(exc).__name__}: {one_line(exc)} "
            "(set GEO_LABEL_DEBUG=1 for details)",
            markup=False,
        )
        sys.exit(70)


#: The longest error line the CLI prints: messages quote input, which may be huge.
MAX_ERROR = 500


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."
