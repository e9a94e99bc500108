"""Roll-up: the banner of a set of items (MARKINGS.md section 5)."""

from collections.abc import Iterable

from access_control.controls import HANDLING_CONTROLS, NOFORN, REL, RELIDO, USA
from access_control.marking import Marking


def roll_up(markings: Iterable[Marking]) -> Marking:
    """The banner marking for exactly these items; no items gives UNCLASSIFIED.

    level = max; SCI and FOUO/ORCON/IMCON/CUI = union; NOFORN if any item is NOFORN or a classified item has
    no REL; otherwise rel_to = intersection of the REL TO sets of the items that carry one (items without REL
    are then unclassified and do not narrow it), and an intersection of USA alone becomes NOFORN. RELIDO is
    kept only if some item carries it, every classified item carries it and the result is not NOFORN.
    """
    items = list(markings)
    if not items:
        return Marking.unclassified()
    controls = {control for m in items for control in m.dissemination & HANDLING_CONTROLS}
    noforn = any(m.is_noforn or (m.is_classified and not m.rel_to) for m in items)
    rel_sets = [m.rel_to for m in items if m.rel_to]
    rel_to = frozenset[str]() if noforn or not rel_sets else frozenset.intersection(*rel_sets)
    if rel_to == {USA}:
        noforn, rel_to = True, frozenset()
    if noforn:
        controls.add(NOFORN)
    if rel_to:
        controls.add(REL)
    if (
        not noforn
        and any(RELIDO in m.dissemination for m in items)
        and all(RELIDO in m.dissemination for m in items if m.is_classified)
    ):
        controls.add(RELIDO)
    return Marking(
        classification=max(m.classification for m in items),
        sci_controls=frozenset().union(*(m.sci_controls for m in items)),
        dissemination=frozenset(controls),
        rel_to=rel_to,
    )


least_upper_bound = roll_up
