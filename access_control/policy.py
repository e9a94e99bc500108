"""Reading rules (MARKINGS.md section 3) and releasability to a recipient nation."""

from datetime import UTC, datetime

from access_control.controls import CUI_GATED, USA
from access_control.errors import MarkingError
from access_control.loading import resolve_registry
from access_control.marking import Marking
from access_control.registry import MarkingRegistry
from access_control.user import UserAccess


def can_read(
    user: UserAccess, marking: Marking, *, project_id: str | None = None, now: datetime | None = None
) -> bool:
    """True if all of section 3's rules 1-5 hold (rule 5 only when ``project_id`` is given)."""
    return read_denial_reason(user, marking, project_id=project_id, now=now) is None


def read_denial_reason(
    user: UserAccess, marking: Marking, *, project_id: str | None = None, now: datetime | None = None
) -> str | None:
    """The first rule that denies the read, as a line for the audit log (never for clients), or None.

    An expired clearance fails rule 1 for every item, UNCLASSIFIED included: the rule requires an unexpired
    clearance, whatever the item's level.
    """
    moment = datetime.now(UTC) if now is None else now
    if moment.utcoffset() is None:
        raise ValueError("now must be timezone-aware, e.g. datetime.now(UTC)")
    if user.clearance_expired(moment):
        return f"rule 1: clearance expired at {user.clearance_expires}"
    if user.clearance < marking.classification:
        return f"rule 1: clearance {user.clearance.name} is below {marking.classification.name}"
    missing = sorted(marking.sci_controls - user.sci_accesses)
    if missing:
        return f"rule 2: no SCI access to {', '.join(missing)}"
    gated = sorted(marking.dissemination & CUI_GATED)
    if gated and not user.cui_ok:
        return f"rule 3: {', '.join(gated)} content needs cui_ok"
    gap = _foreign_release_gap(marking, user.citizenship)
    if gap is not None:
        return f"rule 4: {gap}"
    if project_id is not None and project_id not in user.projects:
        return f"rule 5: not a member of project {project_id!r}"
    return None


def releasable_to(marking: Marking, country: str, registry: MarkingRegistry | None = None) -> bool:
    """The recipient half of "acting for a recipient": may this content go to ``country``?

    ``country`` must be a registered trigraph (a recipient is one nation, never a tetragraph). USA is always
    a valid recipient; for others: not NOFORN, a classified item must be REL TO the country, and an explicit
    REL TO list at any level must contain it.
    """
    known = resolve_registry(registry)
    code = country.strip().upper()
    if code in known.tetragraphs:
        raise MarkingError(f"recipient {country!r} is a tetragraph: name one country trigraph, such as GBR")
    if code not in known.countries:
        raise MarkingError(f"unknown recipient country {country!r}: not a registered trigraph")
    return _foreign_release_gap(marking, code) is None


def _foreign_release_gap(marking: Marking, country: str) -> str | None:
    """Rule 4, extended to explicit REL TO lists on unclassified items; None if the country may receive it."""
    if country == USA:
        return None
    if marking.is_noforn:
        return f"NOFORN content, {country} is foreign"
    if marking.rel_to:
        return None if country in marking.rel_to else f"REL TO list does not include {country}"
    if marking.is_classified:
        return f"classified content without REL TO is not releasable to {country}"
    return None
