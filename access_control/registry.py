"""The marking registry: which SCI controls, countries and tetragraphs exist, and the accredited maximum.

A registry is configuration (a TOML file, see ``loading.py``), not code. Construction checks that it is
self-consistent, so a bad file fails at start-up rather than on the first marking that uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from access_control.controls import (
    DISSEMINATION_SPELLINGS,
    REL,
    SCI_PATTERN,
    TETRAGRAPH_PATTERN,
    TRIGRAPH_PATTERN,
    USA,
)
from access_control.errors import MarkingError
from access_control.levels import LEVEL_SPELLINGS
from access_control.marking import Marking

# Words an SCI control may not be called, so that no token in a marking can mean two things.
_RESERVED_WORDS = frozenset(DISSEMINATION_SPELLINGS) | LEVEL_SPELLINGS | {REL, "TO"}


@dataclass(frozen=True)
class MarkingRegistry:
    """Known SCI controls, country trigraphs, tetragraphs (with their member trigraphs) and the highest
    marking the system is accredited to hold."""

    sci_controls: frozenset[str]
    countries: frozenset[str]
    tetragraphs: Mapping[str, frozenset[str]]
    accredited_max: Marking

    def __post_init__(self) -> None:
        # A read-only copy, so that a caller's dict cannot change the registry afterwards.
        frozen = MappingProxyType({name: frozenset(members) for name, members in self.tetragraphs.items()})
        object.__setattr__(self, "tetragraphs", frozen)
        self._check()

    def __hash__(self) -> int:
        return hash(
            (self.sci_controls, self.countries, frozenset(self.tetragraphs.items()), self.accredited_max)
        )

    def expand(self, code: str) -> frozenset[str] | None:
        """The trigraphs a country code or tetragraph stands for, or None if the registry knows neither."""
        if code in self.countries:
            return frozenset({code})
        return self.tetragraphs.get(code)

    def _check(self) -> None:
        for token in sorted(self.sci_controls):
            if not isinstance(token, str) or not SCI_PATTERN.fullmatch(token):
                raise MarkingError(f"registry SCI control {token!r} is malformed: use capitals such as SI-G")
            if token in _RESERVED_WORDS:
                raise MarkingError(
                    f"registry SCI control {token!r} is a level or dissemination word: rename it"
                )
        for code in sorted(self.countries):
            if not isinstance(code, str) or not TRIGRAPH_PATTERN.fullmatch(code):
                raise MarkingError(
                    f"registry country {code!r} is not a trigraph: use ISO 3166 codes like GBR"
                )
        if USA not in self.countries:
            raise MarkingError("registry countries lack 'USA': every REL TO list includes USA")
        for name, members in sorted(self.tetragraphs.items()):
            if not isinstance(name, str) or not TETRAGRAPH_PATTERN.fullmatch(name):
                raise MarkingError(f"registry tetragraph {name!r} is not four capital letters")
            unknown = sorted(members - self.countries)
            if unknown:
                raise MarkingError(
                    f"registry tetragraph {name!r} names unregistered country {unknown[0]!r}: "
                    "add it to countries"
                )
            if not members:
                raise MarkingError(f"registry tetragraph {name!r} has no members")
        unknown_sci = sorted(self.accredited_max.sci_controls - self.sci_controls)
        if unknown_sci:
            raise MarkingError(f"registry accredited_max names unregistered SCI control {unknown_sci[0]!r}")
        unknown_countries = sorted(self.accredited_max.rel_to - self.countries)
        if unknown_countries:
            raise MarkingError(f"registry accredited_max names unregistered country {unknown_countries[0]!r}")
