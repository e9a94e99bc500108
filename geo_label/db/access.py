"""The one reusable clearance filter: a SQL expression that keeps only rows the caller may read.

It implements MARKINGS.md section 3 exactly as :func:`access_control.can_read` does, over a table's typed
marking columns, so a query and its count are filtered by the same expression in the database (never in
Python after the query). Row-level security applies the same rules again underneath (defense in depth).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, any_, false, literal, not_, or_, true
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.types import Text

from geo_label.db.context import Caller

CONTROLLED_UNCLASSIFIED = ("CUI", "FOUO")
# "No REL TO list" is ``rel_to = '{}'``, not ``cardinality(rel_to) = 0``: the planner estimates the first
# from the column's statistics and the second not at all (issue 21, migration 0012).


def _text_array(values: frozenset[str]) -> Any:
    return literal(sorted(values), ARRAY(Text))


def marking_readable(table: Table, caller: Caller, *, now: datetime | None = None) -> ColumnElement[bool]:
    """Rules 1-4: level (and clearance expiry), SCI, CUI/FOUO, foreign release."""
    level = caller.effective_clearance(now)
    if level < 0:
        return false()
    c = table.c
    access = caller.access
    rules: list[ColumnElement[bool]] = [
        c.classification <= level,
        c.sci_controls.contained_by(_text_array(access.sci_accesses)),
    ]
    if not access.cui_ok:
        rules.append(not_(c.dissemination.overlap(_text_array(frozenset(CONTROLLED_UNCLASSIFIED)))))
    if access.citizenship != "USA":
        rules += [
            not_(literal("NOFORN") == any_(c.dissemination)),
            or_(c.classification == 0, literal("REL") == any_(c.dissemination)),
            or_(c.rel_to == _text_array(frozenset()), literal(access.citizenship) == any_(c.rel_to)),
        ]
    return and_(*rules)


def member_of_project(column: Any, caller: Caller) -> ColumnElement[bool]:
    """Rule 5, need-to-know: the item's project is one the caller is a member of."""
    if not caller.access.projects:
        return false()
    # One array parameter, not IN (...): an IN list is rendered into the SQL text again on every execution
    # (SQLAlchemy's expanding parameter), a measurable share of a request's CPU; the plan is the same.
    projects = literal([uuid.UUID(p) for p in sorted(caller.access.projects)], ARRAY(UUID(as_uuid=True)))
    return column == any_(projects)  # type: ignore[no-any-return]


def readable(table: Table, caller: Caller, *, now: datetime | None = None) -> ColumnElement[bool]:
    """All five rules, for content tables with a ``project_id``."""
    return and_(member_of_project(table.c.project_id, caller), marking_readable(table, caller, now=now))


def project_visible(table: Table, caller: Caller, *, now: datetime | None = None) -> ColumnElement[bool]:
    """Projects: readable marking, and membership (admins manage every project they are cleared for)."""
    membership = true() if caller.is_admin else member_of_project(table.c.id, caller)
    return and_(membership, marking_readable(table, caller, now=now))


def releasable_filter(table: Table, country: str) -> ColumnElement[bool]:
    """Acting for a recipient nation (MARKINGS.md section 3, last line): not NOFORN; classified items must be
    REL TO the country; any explicit REL TO list must name it. Applied together with the caller's filter.
    USA is always a valid recipient (as in ``access_control.releasable_to``): it removes nothing."""
    if country == "USA":
        return true()
    c = table.c
    return and_(
        not_(literal("NOFORN") == any_(c.dissemination)),
        or_(c.classification == 0, literal("REL") == any_(c.dissemination)),
        or_(c.rel_to == _text_array(frozenset()), literal(country) == any_(c.rel_to)),
    )


def readable_for(table: Table, caller: Caller, recipient: str | None) -> ColumnElement[bool]:
    """:func:`readable`, and, acting for a recipient nation, :func:`releasable_filter` too."""
    if not recipient:
        return readable(table, caller)
    return and_(readable(table, caller), releasable_filter(table, recipient))
