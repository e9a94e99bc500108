"""Issue 15: lowering a marking below its floor takes two security officers; until the second approves,
nothing changes, and an annotation changed in between is not lowered."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from access_control import parse_marking
from geo_label import annotations, downgrades
from geo_label.db.models import DOWNGRADE_PROPOSALS
from geo_label.errors import PermissionDeniedError, PreconditionFailedError
from tests.pg import TestDatabase
from tests.release_world import REGISTRY, ReleaseWorld, build_release_world
from tests.world import add_member, caller, make_user, unique

OFFICERS = frozenset({"security_officer"})
REASON = "declassified by the originator, ref 2026-117"


@pytest.fixture()
def world(test_db: TestDatabase, utm_image: Path, data_dir: Path) -> tuple[ReleaseWorld, str, str]:
    made = build_release_world(test_db, utm_image, data_dir)
    first, second = (make_user(test_db, unique(n), "TS//SI/TK", roles=OFFICERS) for n in ("so-a", "so-b"))
    for officer in (first, second):
        add_member(test_db, made.project, officer, "reviewer")
    return made, first, second


def propose(world: ReleaseWorld, officer: str, annotation: str, version: int = 1) -> uuid.UUID:
    who = caller(world.db, officer)
    with world.db.as_caller(who) as session:
        row = downgrades.propose_downgrade(
            session,
            who,
            uuid.UUID(annotation),
            marking=parse_marking("UNCLASSIFIED", REGISTRY),
            justification=REASON,
            if_match=version,
        )
    return uuid.UUID(str(row["id"]))


def decide(world: ReleaseWorld, officer: str, proposal: uuid.UUID, *, approve: bool) -> str:
    who = caller(world.db, officer)
    with world.db.as_caller(who) as session:
        return str(
            downgrades.decide_downgrade(session, who, proposal, approve=approve, registry=REGISTRY)["state"]
        )


def marking_now(world: ReleaseWorld, annotation: str) -> str:
    who = caller(world.db, world.officer_member)
    with world.db.as_caller(who) as session:
        row = annotations.fetch_annotation(session, who, uuid.UUID(annotation))
        return f"{row['classification']}/{row['version']}"


def test_a_denied_proposal_changes_nothing(world: tuple[ReleaseWorld, str, str]) -> None:
    made, first, second = world
    target = made.ids["noforn"]
    proposal = propose(made, first, target)
    assert marking_now(made, target) == "2/1"
    with pytest.raises(PermissionDeniedError, match="their own downgrade"):
        decide(made, first, proposal, approve=True)
    assert decide(made, second, proposal, approve=False) == "denied"
    assert marking_now(made, target) == "2/1"


def test_an_annotation_changed_since_the_proposal_is_not_lowered(
    world: tuple[ReleaseWorld, str, str],
) -> None:
    made, first, second = world
    target = made.ids["releasable"]
    proposal = propose(made, first, target)
    labeler = caller(made.db, made.labeler)
    with made.db.as_caller(labeler) as session:
        annotations.update_annotation(
            session, labeler, uuid.UUID(target), annotations.AnnotationChanges(attributes={}), if_match=1
        )
    with pytest.raises(PreconditionFailedError, match="changed since"):
        decide(made, second, proposal, approve=True)
    assert marking_now(made, target) == "2/2"
    with pytest.raises(PreconditionFailedError):
        propose(made, first, target, version=1)


def test_row_level_security_shows_proposals_to_the_projects_security_officers_only(
    world: tuple[ReleaseWorld, str, str],
) -> None:
    made, first, second = world
    proposal = propose(made, first, made.ids["noforn"])
    for who, sees in ((second, 1), (made.labeler, 0), (made.officer_member, 0)):
        with made.db.as_caller(caller(made.db, who)) as session:
            count = session.execute(
                select(func.count())
                .select_from(DOWNGRADE_PROPOSALS)
                .where(DOWNGRADE_PROPOSALS.c.id == proposal)
            ).scalar_one()
        assert count == sees, who
