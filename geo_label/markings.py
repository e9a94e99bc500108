"""Markings as stored: the typed columns of a marked row, and back."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from access_control import Classification, Marking


def marking_columns(marking: Marking) -> dict[str, Any]:
    return {
        "classification": int(marking.classification),
        "sci_controls": sorted(marking.sci_controls),
        "dissemination": sorted(marking.dissemination),
        "rel_to": sorted(marking.rel_to),
    }


def marking_of(row: Mapping[str, Any] | Any) -> Marking:
    """The marking of a row (a mapping or an object with the marking columns)."""

    def get(name: str) -> Any:
        return row[name] if isinstance(row, Mapping) else getattr(row, name)

    return _marking(
        int(get("classification")),
        tuple(get("sci_controls") or ()),
        tuple(get("dissemination") or ()),
        tuple(get("rel_to") or ()),
    )


@lru_cache(maxsize=4096)
def _marking(
    level: int, sci: tuple[str, ...], dissemination: tuple[str, ...], rel_to: tuple[str, ...]
) -> Marking:
    """Markings are few and immutable: build (and validate) each once, not once per row of a large page."""
    return Marking(
        classification=Classification(level),
        sci_controls=frozenset(sci),
        dissemination=frozenset(dissemination),
        rel_to=frozenset(rel_to),
    )
