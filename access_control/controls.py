"""Dissemination controls: the closed vocabulary, its spellings and its canonical order.

Unlike SCI controls and countries, which come from a registry, this vocabulary is fixed by the security model
(MARKINGS.md section 1), so it lives in code.
"""

import re
from collections.abc import Mapping
from types import MappingProxyType

NOFORN = "NOFORN"
REL = "REL"
ORCON = "ORCON"
IMCON = "IMCON"
RELIDO = "RELIDO"
FOUO = "FOUO"
CUI = "CUI"
USA = "USA"

DISSEMINATION_CONTROLS: frozenset[str] = frozenset({NOFORN, REL, ORCON, IMCON, RELIDO, FOUO, CUI})

# Controls that only restrict and combine by union in a roll-up; NOFORN, REL and RELIDO are releasability and
# are combined by their own rules.
HANDLING_CONTROLS: frozenset[str] = frozenset({FOUO, ORCON, IMCON, CUI})

# Controls a reader needs ``cui_ok`` for (MARKINGS.md section 3 rule 3).
CUI_GATED: frozenset[str] = frozenset({FOUO, CUI})

# Banner order; REL stands for the whole "REL TO ..." token. CUI is placed last at classified levels only.
CANONICAL_ORDER: tuple[str, ...] = (FOUO, ORCON, IMCON, NOFORN, REL, RELIDO, CUI)

PORTION_ABBREVIATIONS: Mapping[str, str] = MappingProxyType({NOFORN: "NF", ORCON: "OC", IMCON: "IMC"})

# Every accepted spelling of a standalone dissemination token. REL is absent on purpose: in text it only
# appears as "REL TO <countries>".
DISSEMINATION_SPELLINGS: Mapping[str, str] = MappingProxyType(
    {
        **{control: control for control in DISSEMINATION_CONTROLS - {REL}},
        **{abbreviation: control for control, abbreviation in PORTION_ABBREVIATIONS.items()},
    }
)

TRIGRAPH_PATTERN = re.compile(r"[A-Z]{3}")
TETRAGRAPH_PATTERN = re.compile(r"[A-Z]{4}")
# One word of capitals and digits, optionally hyphenated (SI, SI-G, HCS-P). Sub-compartment lists such as
# "SI-G ABCD" are not supported: a token never contains spaces, '/', ',' or parentheses.
SCI_PATTERN = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")


def rel_to_order(countries: frozenset[str]) -> list[str]:
    """Countries in canonical REL TO order: USA first, then alphabetical."""
    return sorted(countries, key=lambda code: (code != USA, code))
