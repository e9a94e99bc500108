"""Who is calling: the caller's attributes, read from the database on every request, and their hand-over to
PostgreSQL's row-level security as per-transaction settings."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from access_control import Classification, UserAccess

#: Written instead of an empty list: an empty setting means "not set", which the database refuses.
EMPTY = "-"


@dataclass(frozen=True)
class Caller:
    """The user behind a request (or the system operator at the CLI) with everything access depends on."""

    user_id: uuid.UUID | None
    username: str
    access: UserAccess
    roles: frozenset[str] = frozenset()
    project_roles: Mapping[str, str] = field(default_factory=dict)
    #: Set by an administrator's password reset: nothing but choosing a new password until then.
    must_change_password: bool = False
    #: The read-only access token the request came with (``geo_label.access_tokens``), if any: every audit
    #: record of the request names it.
    access_token_id: uuid.UUID | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_security_officer(self) -> bool:
        return "security_officer" in self.roles

    @property
    def is_foreign_disclosure_officer(self) -> bool:
        return "foreign_disclosure_officer" in self.roles

    def role_in(self, project_id: uuid.UUID | str) -> str | None:
        return self.project_roles.get(str(project_id))

    def effective_clearance(self, now: datetime | None = None) -> int:
        """The clearance level, or -1 once it has expired (then nothing is readable, not even U)."""
        expires = self.access.clearance_expires
        if expires is not None and expires <= (now or datetime.now(UTC)):
            return -1
        return int(self.access.clearance)


#: The name the system's own acts are audited under (the operator's commands, a lease that lapsed).
SYSTEM_ACTOR = "system"


def system_caller(sci_controls: frozenset[str], project_ids: frozenset[str]) -> Caller:
    """The operator at the server's command line (ingest, user and project administration): full access
    within the system's accreditation; every act is still audited under this name."""
    access = UserAccess(
        clearance=Classification.TOP_SECRET,
        sci_accesses=sci_controls,
        citizenship="USA",
        cui_ok=True,
        clearance_expires=None,
        projects=project_ids,
    )
    return Caller(
        user_id=None,
        username=SYSTEM_ACTOR,
        access=access,
        roles=frozenset({"admin", "security_officer", "system"}),
    )


def _join(values: frozenset[str] | set[str] | list[str]) -> str:
    return ",".join(sorted(values)) or EMPTY


def set_caller_context(session: Session, caller: Caller) -> None:
    """Hand the caller's attributes to RLS for this transaction only (``set_config(..., is_local => true)``):
    the next transaction on the same pooled connection starts with none of them."""
    settings = {
        "geo_label.user_id": str(caller.user_id) if caller.user_id else EMPTY,
        "geo_label.clearance": str(caller.effective_clearance()),
        "geo_label.sci": _join(caller.access.sci_accesses),
        "geo_label.citizenship": caller.access.citizenship,
        "geo_label.cui_ok": "true" if caller.access.cui_ok else "false",
        "geo_label.projects": _join(caller.access.projects),
        "geo_label.roles": _join(caller.roles),
    }
    assignments = ", ".join(f"set_config(:k{i}, :v{i}, true)" for i in range(len(settings)))
    params: dict[str, str] = {}
    for i, (key, value) in enumerate(settings.items()):
        params[f"k{i}"] = key
        params[f"v{i}"] = value
    session.execute(text(f"SELECT {assignments}"), params)
