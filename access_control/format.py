"""Marking -> CAPCO text (banner and portion forms), in canonical order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from access_control.controls import CANONICAL_ORDER, CUI, PORTION_ABBREVIATIONS, REL, rel_to_order
from access_control.levels import BANNER_WORDS, PORTION_WORDS, Classification

if TYPE_CHECKING:
    from access_control.marking import Marking


def format_banner(marking: Marking) -> str:
    """``TOP SECRET//SI/TK//NOFORN``, ``SECRET//REL TO USA, AUS, GBR``, ``CUI//NOFORN``."""
    return _render(marking, BANNER_WORDS, {})


def format_portion(marking: Marking) -> str:
    """``(TS//SI/TK//NF)``, ``(S//REL TO USA, AUS, GBR)``, ``(CUI//NF)``."""
    return "(" + _render(marking, PORTION_WORDS, PORTION_ABBREVIATIONS) + ")"


def _render(marking: Marking, level_words: Mapping[Classification, str], spellings: Mapping[str, str]) -> str:
    # At UNCLASSIFIED, CUI replaces the level word instead of being listed as a control.
    cui_is_level = marking.classification == Classification.UNCLASSIFIED and CUI in marking.dissemination
    segments = ["CUI" if cui_is_level else level_words[marking.classification]]
    if marking.sci_controls:
        segments.append("/".join(sorted(marking.sci_controls)))
    controls = []
    for control in CANONICAL_ORDER:
        if control not in marking.dissemination or (control == CUI and cui_is_level):
            continue
        if control == REL:
            controls.append("REL TO " + ", ".join(rel_to_order(marking.rel_to)))
        else:
            controls.append(spellings.get(control, control))
    if controls:
        segments.append("/".join(controls))
    return "//".join(segments)
