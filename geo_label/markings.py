"""Markings as stored: the typed columns of a marked row, and back."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from access_control import Classification, Marking, roll_up

#: The typed marking columns every marked table has, in this order.
MARKING_COLUMNS = ("classification", "sci_controls", "dissemination", "rel_to")


def joined(markings: list[Marking]) -> Marking:
    """The least marking that dominates every one of ``markings``: their roll-up, or the one marking when
    they are all the same. (The roll-up spells out NOFORN for a classified marking without REL, and a
    "SECRET" item from "SECRET" sources must stay "SECRET", which it is equivalent to.)"""
    distinct = list(dict.fromkeys(markings))
    return distinct[0] if len(distinct) == 1 else roll_up(distinct)


def marking_columns(marking: Marking) -> dict[str, Any]:
    return {
        "classification": int(marking.classification),
        "sci_controls": sorted(marking.sci_controls),
        "dissemination": sorted(marking.dissemination),
        "rel_to": sorted(marking.rel_to),
    }


#: A marking's columns as a hashable cache key: level, SCI controls, dissemination, REL TO.
MarkingKey = tuple[int, tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def _key(level: Any, sci: Any, dissemination: Any, rel_to: Any) -> MarkingKey:
    """Marking column values (lists or tuples, None for empty) as a hashable cache key."""
    return int(level), tuple(sci or ()), tuple(dissemination or ()), tuple(rel_to or ())


def _columns(row: Mapping[str, Any] | Any) -> tuple[Any, Any, Any, Any]:
    if type(row) is dict or isinstance(row, Mapping):
        return row["classification"], row["sci_controls"], row["dissemination"], row["rel_to"]
    return row.classification, row.sci_controls, row.dissemination, row.rel_to


def marking_of_values(level: int, sci: Any, dissemination: Any, rel_to: Any) -> Marking:
    """The marking of a row's marking columns given as values (lists or tuples)."""
    return _marking(*_key(level, sci, dissemination, rel_to))


def marking_of(row: Mapping[str, Any] | Any) -> Marking:
    """The marking of a row (a mapping or an object with the marking columns)."""
    return _marking(*_key(*_columns(row)))


def banner_of_values(level: int, sci: Any, dissemination: Any, rel_to: Any) -> str:
    """The banner form of a marking given as its column values (lists or tuples)."""
    return _banner(*_key(level, sci, dissemination, rel_to))


def banner_of(row: Mapping[str, Any] | Any) -> str:
    """The banner form of a row's marking (pages repeat a few markings a thousand times: format each once)."""
    return _banner(*_key(*_columns(row)))


def portion_of(row: Mapping[str, Any] | Any) -> str:
    """The portion form of a row's marking, formatted once per marking."""
    return _portion(*_key(*_columns(row)))


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


@lru_cache(maxsize=4096)
def _banner(level: int, sci: tuple[str, ...], dissemination: tuple[str, ...], rel_to: tuple[str, ...]) -> str:
    return _marking(level, sci, dissemination, rel_to).banner()


@lru_cache(maxsize=4096)
def _portion(
    level: int, sci: tuple[str, ...], dissemination: tuple[str, ...], rel_to: tuple[str, ...]
) -> str:
    return _marking(level, sci, dissemination, rel_to).portion()
