"""Registry files: TOML -> MarkingRegistry, and the default registry shipped with the package.

File format (all four keys required, no others)::

    sci_controls = ["HCS", "SI", "TK"]
    countries = ["USA", "GBR", "AUS"]
    accredited_max = "TOP SECRET//HCS/SI/TK//NOFORN"
    [tetragraphs]
    ACGU = ["AUS", "CAN", "GBR", "USA"]
"""

import dataclasses
import functools
import os
import tomllib
from importlib import resources
from pathlib import Path

from access_control.assemble import assemble_text
from access_control.errors import MarkingError
from access_control.marking import Marking
from access_control.registry import MarkingRegistry

_KEYS = ("sci_controls", "countries", "tetragraphs", "accredited_max")
_DEFAULT_FILE = "default_registry.toml"


def load_registry(path: str | os.PathLike[str]) -> MarkingRegistry:
    """Read and validate a registry file; any problem is a MarkingError naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise MarkingError(f"cannot read marking registry '{os.fspath(path)}': {reason}") from error
    return registry_from_toml(text, f"'{os.fspath(path)}'")


@functools.cache
def default_registry() -> MarkingRegistry:
    """The registry shipped as ``access_control/default_registry.toml`` (read once per process)."""
    text = resources.files(__package__).joinpath(_DEFAULT_FILE).read_text(encoding="utf-8")
    return registry_from_toml(text, f"'{_DEFAULT_FILE}'")


def resolve_registry(registry: MarkingRegistry | None) -> MarkingRegistry:
    return default_registry() if registry is None else registry


def registry_from_toml(text: str, source: str) -> MarkingRegistry:
    """Parse registry TOML; ``source`` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise MarkingError(f"marking registry {source} is not valid TOML: {error}") from error
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise MarkingError(
            f"marking registry {source} has unknown key {unknown[0]!r}: expected {', '.join(_KEYS)}"
        )
    missing = [key for key in _KEYS if key not in data]
    if missing:
        raise MarkingError(f"marking registry {source} lacks the key {missing[0]!r}")
    tetragraphs = data["tetragraphs"]
    if not isinstance(tetragraphs, dict):
        raise MarkingError(
            f"marking registry {source}: 'tetragraphs' must be a table of lists of country codes"
        )
    accredited_max = data["accredited_max"]
    if not isinstance(accredited_max, str):
        raise MarkingError(f"marking registry {source}: 'accredited_max' must be a marking string")
    sci_controls = _codes(data["sci_controls"], "sci_controls", source)
    countries = _codes(data["countries"], "countries", source)
    members = {name: _codes(codes, f"tetragraphs.{name}", source) for name, codes in tetragraphs.items()}
    try:
        provisional = MarkingRegistry(sci_controls, countries, members, accredited_max=Marking.unclassified())
        # The maximum is written in marking syntax, which needs the rest of the registry to be read.
        maximum = assemble_text(accredited_max, provisional)
        return dataclasses.replace(provisional, accredited_max=maximum)
    except MarkingError as error:
        raise MarkingError(f"marking registry {source}: {error}") from error


def _codes(value: object, key: str, source: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MarkingError(f"marking registry {source}: {key!r} must be a list of strings")
    if len(set(value)) != len(value):
        duplicate = next(item for item in value if value.count(item) > 1)
        raise MarkingError(f"marking registry {source}: {key!r} lists {duplicate!r} twice")
    return frozenset(value)
