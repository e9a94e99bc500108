"""The reader: a user's access attributes, as read from the database at request time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from access_control.controls import TRIGRAPH_PATTERN
from access_control.errors import MarkingError
from access_control.levels import Classification
from access_control.parse import parse_marking
from access_control.registry import MarkingRegistry


@dataclass(frozen=True)
class UserAccess:
    """Clearance, SCI accesses, citizenship, CUI eligibility, clearance expiry and need-to-know projects.

    ``clearance_expires`` must be timezone-aware (or None for no expiry), so that comparing it with the
    current time can never depend on the server's local zone.
    """

    clearance: Classification
    sci_accesses: frozenset[str]
    citizenship: str
    cui_ok: bool
    clearance_expires: datetime | None
    projects: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.clearance, Classification):
            raise TypeError(f"clearance must be a Classification, not {self.clearance!r}")
        for name in ("sci_accesses", "projects"):
            if not isinstance(getattr(self, name), frozenset):
                raise TypeError(f"{name} must be a frozenset, not {getattr(self, name)!r}")
        if not isinstance(self.citizenship, str) or not TRIGRAPH_PATTERN.fullmatch(self.citizenship):
            raise MarkingError(
                f"citizenship {self.citizenship!r} is not a country trigraph such as USA or GBR"
            )
        if self.clearance_expires is not None and self.clearance_expires.utcoffset() is None:
            raise ValueError("clearance_expires must be timezone-aware, e.g. datetime(..., tzinfo=UTC)")

    @classmethod
    def from_clearance(
        cls,
        clearance: str,
        *,
        citizenship: str,
        cui_ok: bool = False,
        clearance_expires: datetime | None = None,
        projects: Iterable[str] = (),
        registry: MarkingRegistry | None = None,
    ) -> UserAccess:
        """Build from a clearance string such as ``TS//SI/TK``: a level and SCI accesses, nothing else."""
        marking = parse_marking(clearance, registry)
        if marking.dissemination:
            controls = ", ".join(sorted(marking.dissemination))
            raise MarkingError(
                f"clearance '{clearance.strip()}' names dissemination control {controls}: "
                "a clearance is a level and SCI accesses only (CUI eligibility is cui_ok)"
            )
        return cls(
            clearance=marking.classification,
            sci_accesses=marking.sci_controls,
            citizenship=citizenship,
            cui_ok=cui_ok,
            clearance_expires=clearance_expires,
            projects=frozenset(projects),
        )

    def clearance_expired(self, now: datetime) -> bool:
        """True from the expiry instant on."""
        return self.clearance_expires is not None and now >= self.clearance_expires
