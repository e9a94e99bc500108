"""The Marking value: four typed parts, with the invariants that need no registry checked on construction."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from access_control.controls import (
    DISSEMINATION_CONTROLS,
    NOFORN,
    REL,
    RELIDO,
    SCI_PATTERN,
    TRIGRAPH_PATTERN,
    USA,
)
from access_control.errors import MarkingError
from access_control.format import format_banner, format_portion
from access_control.levels import Classification


@dataclass(frozen=True, slots=True)
class Marking:
    """One marking as stored in typed columns; provenance is kept alongside by other code.

    Constructing one directly (for example from database columns) checks every invariant that needs no
    registry: REL iff ``rel_to`` is non-empty, ``rel_to`` holds USA and someone else, no SCI at UNCLASSIFIED,
    no NOFORN with REL or RELIDO, RELIDO only at classified levels. Use :meth:`build` or ``parse_marking`` to
    normalise spellings, expand tetragraphs and check tokens against a registry.
    """

    classification: Classification
    sci_controls: frozenset[str] = frozenset()
    dissemination: frozenset[str] = frozenset()
    rel_to: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        _check_types(self)
        _check_invariants(self)

    @classmethod
    def unclassified(cls) -> Marking:
        """UNCLASSIFIED with no controls."""
        return cls(Classification.UNCLASSIFIED)

    @property
    def is_classified(self) -> bool:
        return self.classification > Classification.UNCLASSIFIED

    @property
    def is_noforn(self) -> bool:
        return NOFORN in self.dissemination

    def banner(self) -> str:
        """The CAPCO banner line, e.g. ``TOP SECRET//SI/TK//NOFORN``."""
        return format_banner(self)

    def portion(self) -> str:
        """The CAPCO portion mark, e.g. ``(TS//SI/TK//NF)``."""
        return format_portion(self)

    def __str__(self) -> str:
        return format_banner(self)


def _check_types(marking: Marking) -> None:
    if not isinstance(marking.classification, Classification):
        raise TypeError(f"classification must be a Classification, not {marking.classification!r}")
    for name in ("sci_controls", "dissemination", "rel_to"):
        value = getattr(marking, name)
        if not isinstance(value, frozenset) or not all(isinstance(token, str) for token in value):
            raise TypeError(f"{name} must be a frozenset of str, not {value!r}")


def _check_invariants(m: Marking) -> None:
    where = (
        f"Marking({m.classification.name}, sci_controls={sorted(m.sci_controls)}, "
        f"dissemination={sorted(m.dissemination)}, rel_to={sorted(m.rel_to)})"
    )
    check_parts(m.classification, m.sci_controls, m.dissemination, m.rel_to, where)


def check_parts(
    level: Classification,
    sci: AbstractSet[str],
    dissemination: AbstractSet[str],
    rel_to: AbstractSet[str],
    where: str,
) -> None:
    """The security model's rules on one marking's parts; ``where`` names the input in messages.

    Shared by the constructor and by the parser (which calls it first, to quote the text as written).
    """
    for token in sorted(sci):
        if not SCI_PATTERN.fullmatch(token):
            raise MarkingError(f"malformed SCI control {token!r} in {where}: expected capitals such as SI-G")
    for token in sorted(set(dissemination) - DISSEMINATION_CONTROLS):
        raise MarkingError(f"unknown dissemination control {token!r} in {where}: not one of the controls")
    for code in sorted(rel_to):
        if not TRIGRAPH_PATTERN.fullmatch(code):
            raise MarkingError(f"malformed country code {code!r} in {where}: rel_to holds expanded trigraphs")
    if sci and level == Classification.UNCLASSIFIED:
        raise MarkingError(
            f"SCI control {min(sci)!r} at UNCLASSIFIED in {where}: SCI needs a classified level"
        )
    if REL in dissemination and not rel_to:
        raise MarkingError(f"'REL' without a country list in {where}: write REL TO USA, <countries>")
    if rel_to and REL not in dissemination:
        raise MarkingError(f"rel_to without 'REL' in {where}: REL is present exactly when rel_to is")
    if NOFORN in dissemination and rel_to:
        raise MarkingError(f"'NOFORN' with REL TO in {where}: they contradict, keep one")
    if NOFORN in dissemination and RELIDO in dissemination:
        raise MarkingError(f"'RELIDO' with NOFORN in {where}: they contradict, keep one")
    if RELIDO in dissemination and level == Classification.UNCLASSIFIED:
        raise MarkingError(f"'RELIDO' at UNCLASSIFIED in {where}: RELIDO applies to classified content only")
    if rel_to and USA not in rel_to:
        raise MarkingError(f"REL TO list without 'USA' in {where}: every REL TO list includes USA")
    if rel_to == {USA}:
        raise MarkingError(f"REL TO 'USA' alone in {where}: that is NOFORN, write NOFORN")
