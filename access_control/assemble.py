"""Turn recognised parts into a valid Marking, or say exactly which token is wrong.

Shared by ``parse_marking`` and ``build_marking`` so that text and code are held to the same rules. ``where``
is the input as the person wrote it (quoted text, or a description of the build call) and ends up in every
message.
"""

from collections.abc import Iterable, Sequence

from access_control.controls import DISSEMINATION_SPELLINGS, REL
from access_control.errors import MarkingError
from access_control.grammar import split_marking
from access_control.levels import Classification
from access_control.marking import Marking, check_parts
from access_control.registry import MarkingRegistry


def assemble(
    level: Classification,
    sci: Sequence[str],
    dissemination: Sequence[str],
    rel_codes: Sequence[str],
    *,
    registry: MarkingRegistry,
    where: str,
) -> Marking:
    """Validate upper-case tokens against the registry and the security model, then build the Marking.

    ``dissemination`` may use abbreviations (NF, OC, IMC) and may hold REL; REL is added when ``rel_codes``
    is non-empty. ``rel_codes`` are trigraphs or tetragraphs as written; they are expanded here.
    """
    sci_set = _sci(sci, registry, where)
    controls = _dissemination(dissemination, where)
    rel_to = _rel_to(rel_codes, registry, where)
    if rel_to:
        controls.add(REL)
    check_parts(level, sci_set, controls, rel_to, where)
    return Marking(level, sci_set, frozenset(controls), rel_to)


def assemble_text(text: str, registry: MarkingRegistry) -> Marking:
    """Parse banner or portion text against a given registry (``parse_marking`` resolves the default)."""
    if not isinstance(text, str):
        raise TypeError(f"a marking is text, not {type(text).__name__}")
    where = f"'{text.strip()}'"
    parts = split_marking(text, registry.sci_controls, where)
    return assemble(
        parts.level, parts.sci, parts.dissemination, parts.rel_codes, registry=registry, where=where
    )


def _sci(tokens: Sequence[str], registry: MarkingRegistry, where: str) -> frozenset[str]:
    for token in tokens:
        if token not in registry.sci_controls:
            raise MarkingError(f"unknown SCI control {token!r} in {where}: not in the marking registry")
    _reject_duplicates(tokens, where, "token")
    return frozenset(tokens)


def _dissemination(tokens: Sequence[str], where: str) -> set[str]:
    written: dict[str, str] = {}  # control -> how it was first written
    for token in tokens:
        control = REL if token == REL else DISSEMINATION_SPELLINGS.get(token)
        if control is None:
            raise MarkingError(
                f"unknown dissemination control {token!r} in {where}: not a registered control"
            )
        if control in written:
            # Two REL entries come from two "REL TO" lists; name them the way they were written.
            shown = "REL TO" if control == REL else token
            also = "" if written[control] == token else f" (also written {written[control]!r})"
            raise MarkingError(f"duplicated token {shown!r}{also} in {where}: write each once")
        written[control] = token
    return set(written)


def _rel_to(codes: Sequence[str], registry: MarkingRegistry, where: str) -> frozenset[str]:
    expanded: set[str] = set()
    for code in codes:
        members = registry.expand(code)
        if members is None:
            hint = " (separate country codes with commas)" if " " in code else ""
            raise MarkingError(
                f"unknown country code {code!r} in {where}: not a registered trigraph or tetragraph{hint}"
            )
        expanded |= members
    # Overlap after expansion (USA, FVEY) is the usual way to write a list; a code written twice is a slip.
    _reject_duplicates(codes, where, "country code")
    return frozenset(expanded)


def _reject_duplicates(tokens: Iterable[str], where: str, kind: str) -> None:
    seen: set[str] = set()
    for token in tokens:
        if token in seen:
            raise MarkingError(f"duplicated {kind} {token!r} in {where}: write each once")
        seen.add(token)
