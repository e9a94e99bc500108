"""CAPCO text -> recognised parts. Syntax only: which token is a level, an SCI control or a control.

Grammar (banner, or portion when wrapped in parentheses), case-insensitive, spaces allowed around ``//``,
``/`` and ``,``::

    LEVEL [// SCI ( / SCI )*] [// DISSEM ( / DISSEM )*]
    LEVEL  = U | C | S | TS | UNCLASSIFIED | CONFIDENTIAL | SECRET | TOP SECRET | CUI   (CUI = U + CUI)
    DISSEM = NOFORN | NF | ORCON | OC | IMCON | IMC | RELIDO | FOUO | CUI | REL TO CODE ( , CODE )*

Registry checks and the security model's rules (REL TO needs USA, ...) are in ``assemble.py``.
"""

import re
from dataclasses import dataclass
from enum import Enum

from access_control.controls import CUI, DISSEMINATION_SPELLINGS, REL
from access_control.errors import MarkingError
from access_control.levels import Classification, level_from_word

_BLOCK_SEPARATOR = re.compile(r"\s*//\s*")
_TOKEN_SEPARATOR = re.compile(r"\s*/\s*")
_LIST_SEPARATOR = re.compile(r"\s*,\s*")
_REL_TO = re.compile(r"REL\s+TO(?:\s+(?P<codes>.*))?")


@dataclass(frozen=True)
class MarkingParts:
    """Upper-case tokens as written (abbreviations and tetragraphs not yet resolved)."""

    level: Classification
    sci: tuple[str, ...]
    dissemination: tuple[str, ...]
    rel_codes: tuple[str, ...]


class _Block(Enum):
    SCI = "SCI"
    DISSEMINATION = "dissemination"


def split_marking(text: str, sci_controls: frozenset[str], where: str) -> MarkingParts:
    """Split ``text`` into parts; ``sci_controls`` tells SCI tokens from unknown ones."""
    body = text.strip().upper()
    if body.startswith("(") != body.endswith(")"):
        raise MarkingError(
            f"unbalanced parenthesis in {where}: a portion mark is wrapped in one pair, as in (S//NF)"
        )
    if body.startswith("("):
        body = body[1:-1].strip()
    if not body:
        raise MarkingError(f"empty marking {where}: write at least a classification such as UNCLASSIFIED")
    first, *rest = _BLOCK_SEPARATOR.split(body)
    level, dissemination = _level(first, where)
    sci: list[str] = []
    rel_codes: list[str] = []
    seen: list[_Block] = []
    for segment in rest:
        tokens = _tokens(segment, where)
        block = _block_of(tokens, segment, sci_controls, where)
        _check_block_order(block, seen, segment, where)
        seen.append(block)
        for token in tokens:
            codes = _rel_to_codes(token, where)
            if codes is None:
                (sci if block is _Block.SCI else dissemination).append(token)
            else:
                dissemination.append(REL)
                rel_codes.extend(codes)
    return MarkingParts(level, tuple(sci), tuple(dissemination), tuple(rel_codes))


def _level(segment: str, where: str) -> tuple[Classification, list[str]]:
    """The level, plus the CUI control when CUI stands in the level's place."""
    if not segment:
        raise MarkingError(f"empty segment in {where}: a marking starts with its classification")
    word = " ".join(segment.split())
    if word == CUI:
        return Classification.UNCLASSIFIED, [CUI]
    level = level_from_word(word)
    if level is None:
        hint = "; separate blocks with //" if "/" in word else ""
        raise MarkingError(
            f"unknown classification {word!r} in {where}: "
            f"expected U, C, S, TS, their full words, or CUI{hint}"
        )
    return level, []


def _tokens(segment: str, where: str) -> list[str]:
    tokens = [" ".join(token.split()) for token in _TOKEN_SEPARATOR.split(segment)]
    if not segment or "" in tokens:
        raise MarkingError(f"empty segment in {where}: remove the stray '/' or '//'")
    return tokens


def _block_of(tokens: list[str], segment: str, sci_controls: frozenset[str], where: str) -> _Block:
    kinds = [_kind(token, sci_controls, where) for token in tokens]
    for token, kind in zip(tokens, kinds, strict=True):
        if kind is not kinds[0]:
            raise MarkingError(
                f"{kind.value} control {token!r} inside the {kinds[0].value} block '{segment}' of {where}: "
                "separate SCI and dissemination controls with //"
            )
    return kinds[0]


def _kind(token: str, sci_controls: frozenset[str], where: str) -> _Block:
    if token in DISSEMINATION_SPELLINGS or _REL_TO.fullmatch(token):
        return _Block.DISSEMINATION
    if token == REL:
        raise MarkingError(f"'REL' without TO in {where}: write REL TO USA, <countries>")
    if token in sci_controls:
        return _Block.SCI
    raise MarkingError(
        f"unknown token {token!r} in {where}: not a registered SCI control or dissemination control"
    )


def _check_block_order(block: _Block, seen: list[_Block], segment: str, where: str) -> None:
    if block in seen:
        raise MarkingError(
            f"more than one {block.value} block in {where} (second: '{segment}'): "
            f"put all {block.value} controls in one block, separated by '/'"
        )
    if block is _Block.SCI and _Block.DISSEMINATION in seen:
        raise MarkingError(
            f"SCI block '{segment}' after the dissemination block in {where}: SCI controls come first"
        )


def _rel_to_codes(token: str, where: str) -> list[str] | None:
    """The country codes of a ``REL TO`` token, or None if the token is something else."""
    match = _REL_TO.fullmatch(token)
    if match is None:
        return None
    listed = match.group("codes")
    if not listed:
        raise MarkingError(f"'REL TO' without countries in {where}: write REL TO USA, <countries>")
    codes = _LIST_SEPARATOR.split(listed.strip())
    if "" in codes:
        raise MarkingError(f"empty country code in the REL TO list of {where}: remove the stray ','")
    return codes
