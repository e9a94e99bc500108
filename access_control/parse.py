"""Text -> Marking, and parts -> Marking."""

from collections.abc import Iterable

from access_control.assemble import assemble, assemble_text
from access_control.controls import CUI
from access_control.errors import MarkingError
from access_control.levels import Classification, level_from_word
from access_control.loading import resolve_registry
from access_control.marking import Marking
from access_control.registry import MarkingRegistry


def parse_marking(text: str, registry: MarkingRegistry | None = None) -> Marking:
    """Parse a banner (``SECRET//REL TO USA, GBR``) or portion (``(S//REL TO USA, GBR)``) marking.

    Fails closed: any unknown, duplicated, misplaced or contradictory token raises MarkingError naming it.
    """
    return assemble_text(text, resolve_registry(registry))


def build_marking(
    classification: Classification | int | str,
    sci_controls: Iterable[str] = (),
    dissemination: Iterable[str] = (),
    rel_to: Iterable[str] = (),
    *,
    registry: MarkingRegistry | None = None,
) -> Marking:
    """A marking from its parts, normalised and validated against a registry (the default one if None).

    Accepts the abbreviations NF, OC and IMC, expands tetragraphs in ``rel_to`` and adds REL when ``rel_to``
    is given. Raises MarkingError on any unknown, duplicated or contradictory token."""
    level = _level(classification)
    sci = _tokens(sci_controls, "sci_controls")
    controls = _tokens(dissemination, "dissemination")
    codes = _tokens(rel_to, "rel_to")
    where = (
        f"the marking {level.name} with sci_controls {list(sci)}, dissemination {list(controls)}, "
        f"rel_to {list(codes)}"
    )
    return assemble(level, sci, controls, codes, registry=resolve_registry(registry), where=where)


def _level(value: Classification | int | str) -> Classification:
    if isinstance(value, Classification):
        return value
    if isinstance(value, str):
        level = level_from_word(value)
        if level is not None:
            return level
        if value.strip().upper() == CUI:
            raise MarkingError("'CUI' is not a classification level: use UNCLASSIFIED with the CUI control")
        raise MarkingError(f"unknown classification {value!r}: expected U, C, S, TS or their full words")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= max(Classification):
        return Classification(value)
    raise MarkingError(f"unknown classification {value!r}: expected a Classification or an integer 0..3")


def _tokens(values: Iterable[str], name: str) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError(f"{name} must be a collection of tokens, not the string {values!r}")
    tokens = []
    for value in values:
        if not isinstance(value, str):
            raise TypeError(f"{name} must hold strings, not {value!r}")
        tokens.append(" ".join(value.upper().split()))
    return tuple(tokens)
