"""Markings as stored: the typed columns of a marked row, and back."""

from __future__ import annotations

from collections.abc import Mapping
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

    return Marking(
        classification=Classification(int(get("classification"))),
        sci_controls=frozenset(get("sci_controls") or ()),
        dissemination=frozenset(get("dissemination") or ()),
        rel_to=frozenset(get("rel_to") or ()),
    )
