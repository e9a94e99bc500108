"""Dominance between markings ("a is at least as restrictive as b") and the accreditation check.

``a`` dominates ``b`` when all hold:
  - level(a) >= level(b) and SCI(a) is a superset of SCI(b);
  - a carries every handling control of b (FOUO, ORCON, IMCON, CUI), and NOFORN if b does;
  - releasable(a) is a subset of releasable(b), where releasable(m) is {USA} for NOFORN or a classified item
    without REL, rel_to for REL, and every country for an unclassified item with neither;
  - if a carries RELIDO, so does b, unless b is unclassified (RELIDO exists only at classified levels).
Each clause is a partial order, and the RELIDO clause stays transitive because level(a) >= level(b); together
they are a partial order, and ``roll_up`` is an upper bound in it.
"""

from access_control.controls import HANDLING_CONTROLS, NOFORN, RELIDO, USA
from access_control.errors import MarkingError
from access_control.loading import resolve_registry
from access_control.marking import Marking
from access_control.registry import MarkingRegistry


def releasable_countries(marking: Marking) -> frozenset[str] | None:
    """The countries the marking lets content go to; None means no country restriction at all."""
    if marking.is_noforn or (marking.is_classified and not marking.rel_to):
        return frozenset({USA})
    return marking.rel_to or None


def dominance_gap(a: Marking, b: Marking) -> str | None:
    """Why ``a`` does not dominate ``b`` (the first clause that fails), or None if it does."""
    if a.classification < b.classification:
        return f"level {b.classification.name} is above {a.classification.name}"
    missing = sorted(b.sci_controls - a.sci_controls)
    if missing:
        return f"SCI control {', '.join(missing)} is not covered"
    missing = sorted((b.dissemination & (HANDLING_CONTROLS | {NOFORN})) - a.dissemination)
    if missing:
        return f"control {', '.join(missing)} is not covered"
    wider = releasable_countries(a)
    narrower = releasable_countries(b)
    if narrower is not None and (wider is None or not wider <= narrower):
        extra = "any country" if wider is None else ", ".join(sorted(wider - narrower))
        return f"the REL TO list does not cover {extra}"
    if RELIDO in a.dissemination and b.is_classified and RELIDO not in b.dissemination:
        return "RELIDO is not covered"
    return None


def dominates(a: Marking, b: Marking) -> bool:
    """True if ``a`` is at least as restrictive as ``b`` (see the module docstring)."""
    return dominance_gap(a, b) is None


def check_accredited(marking: Marking, registry: MarkingRegistry | None = None) -> None:
    """Raise MarkingError unless the registry's accredited maximum dominates ``marking``."""
    maximum = resolve_registry(registry).accredited_max
    gap = dominance_gap(maximum, marking)
    if gap is not None:
        raise MarkingError(
            f"marking '{marking.banner()}' exceeds the system's accredited maximum "
            f"'{maximum.banner()}': {gap}"
        )
