"""MARKINGS.md section 8, the differential test: over random (user, marking) pairs, three independent
implementations of the reading rules agree:

1. ``access_control.can_read`` (pure Python, rules 1-5);
2. row-level security alone: a raw ``SELECT id FROM <table>`` as the service role with the caller's context
   and no service filter;
3. the service filter (``geo_label.db.access``), both on top of RLS and on its own (as the owner, a superuser
   in the tests, to whom RLS does not apply: a filter looser than RLS would otherwise go unnoticed).

A fixed pool of rows with random valid markings is inserted once (as the system operator); hypothesis then
varies the reader: clearance, SCI accesses, citizenship, CUI eligibility, memberships, expiry and roles.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from geoalchemy2.shape import from_shape
from hypothesis import given, reject, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box
from sqlalchemy import Engine, Table, create_engine, insert, select, text
from sqlalchemy.orm import Session

from access_control import (
    Classification,
    Marking,
    MarkingError,
    UserAccess,
    build_marking,
    can_read,
    default_registry,
)
from geo_label import audit, projects
from geo_label.db.access import marking_readable, project_visible, readable
from geo_label.db.context import Caller, set_caller_context
from geo_label.db.models import (
    ANNOTATION_EXTENTS,
    ANNOTATION_VERSIONS,
    ANNOTATIONS,
    AUDIT_LOG,
    CHIPS,
    IMAGES,
    PROJECTS,
)
from geo_label.markings import marking_columns, marking_of
from tests import pg
from tests.rasters import utm_uint16
from tests.world import caller as load_caller
from tests.world import ingest, make_project, make_user, unique

SCI = ("SI", "TK", "HCS")
PARTNERS = ("GBR", "FRA", "AUS", "CAN", "NZL")
CITIZENSHIPS = ("USA", "GBR", "FRA", "AUS")
HANDLING = ("ORCON", "IMCON", "FOUO", "CUI")
ACTION = "test.differential"


def build(
    level: int, sci: frozenset[str], release: str, partners: frozenset[str], handling: frozenset[str]
) -> Marking | None:
    """A marking from its parts through the registry, or None when the combination is not a valid one."""
    dissemination = set(handling)
    rel_to: list[str] = []
    if release == "NOFORN":
        dissemination.add("NOFORN")
    elif release == "REL":
        rel_to = ["USA", *sorted(partners)]
    elif release == "FVEY":
        rel_to = ["FVEY"]
    elif release == "RELIDO":
        dissemination.add("RELIDO")
    try:
        return build_marking(level, sci, dissemination, rel_to, registry=default_registry())
    except MarkingError:
        return None


@st.composite
def markings(draw: st.DrawFn) -> Marking:
    level = draw(st.integers(0, 3))
    marking = build(
        level,
        draw(st.frozensets(st.sampled_from(SCI))) if level else frozenset(),
        draw(st.sampled_from(("none", "NOFORN", "REL", "FVEY", "RELIDO"))),
        draw(st.frozensets(st.sampled_from(PARTNERS), min_size=1)),
        draw(st.frozensets(st.sampled_from(HANDLING), max_size=2)),
    )
    if marking is None:
        reject()
    return marking


def random_markings(rng: random.Random, count: int) -> list[Marking]:
    out: list[Marking] = []
    while len(out) < count:
        level = rng.randrange(4)
        sci = frozenset(s for s in SCI if level and rng.random() < 0.35)
        release = rng.choice(("none", "none", "NOFORN", "REL", "REL", "FVEY", "RELIDO"))
        partners = frozenset(rng.sample(PARTNERS, rng.randint(1, 3)))
        handling = frozenset(h for h in HANDLING if rng.random() < 0.15)
        marking = build(level, sci, release, partners, handling)
        if marking is not None:
            out.append(marking)
    return out


@dataclass
class Pool:
    """Rows with known markings: id -> (marking, project id or None)."""

    projects: list[uuid.UUID]  # membership candidates: the two content projects first
    rows: dict[str, dict[uuid.UUID, tuple[Marking, uuid.UUID | None]]]


TABLES: dict[str, Table] = {
    "annotations": ANNOTATIONS,
    "annotation_versions": ANNOTATION_VERSIONS,
    "chips": CHIPS,
    "images": IMAGES,
    "projects": PROJECTS,
    "audit_log": AUDIT_LOG,
}
ID_COLUMN = {"annotation_versions": "annotation_id"}


@pytest.fixture(scope="module")
def pool(test_db: pg.TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Pool:
    rng = random.Random(20241122)
    root = tmp_path_factory.mktemp("differential")
    content = [make_project(test_db, "UNCLASSIFIED") for _ in range(2)]
    author = load_caller(test_db, make_user(test_db, unique("diff"), "TS//SI/TK/HCS", cui_ok=True))
    images = {}
    for index, project in enumerate(content):
        scene = utm_uint16(root / f"scene-{index}.tif", width=256, height=256, seed=900 + index)
        images[project] = ingest(test_db, project, scene, root / "data", "UNCLASSIFIED")
    rows: dict[str, dict[uuid.UUID, tuple[Marking, uuid.UUID | None]]] = {name: {} for name in TABLES}
    with test_db.as_system() as session:
        system: Caller = session.info["caller"]
        chip_of = {
            project: session.execute(select(CHIPS.c.id).where(CHIPS.c.image_id == images[project]))
            .scalars()
            .first()
            for project in content
        }
        footprint = from_shape(box(13.0, 40.0, 13.01, 40.01), 4326)
        for marking in random_markings(rng, 60):
            project = rng.choice(content)
            ident = uuid.uuid4()
            session.execute(
                insert(ANNOTATIONS).values(
                    id=ident,
                    project_id=project,
                    image_id=images[project],
                    chip_id=chip_of[project],
                    label_class="vehicle",
                    geometry=from_shape(Point(13.005, 40.005), 4326),
                    created_by=author.user_id,
                    updated_by=author.user_id,
                    **marking_columns(marking),
                )
            )
            rows["annotations"][ident] = rows["annotation_versions"][ident] = (marking, project)
        for index, marking in enumerate(random_markings(rng, 30)):
            project = rng.choice(content)
            ident = uuid.uuid4()
            session.execute(
                insert(CHIPS).values(
                    id=ident,
                    image_id=images[project],
                    project_id=project,
                    row_off=10_000 + index,
                    col_off=0,
                    width=1,
                    height=1,
                    path="/nonexistent",
                    preview_path="/nonexistent",
                    valid_fraction=1.0,
                    footprint=footprint,
                    **marking_columns(marking),
                )
            )
            rows["chips"][ident] = (marking, project)
        for marking in random_markings(rng, 20):
            project = rng.choice(content)
            ident = uuid.uuid4()
            session.execute(
                insert(IMAGES).values(
                    id=ident,
                    project_id=project,
                    sha256=uuid.uuid4().hex,
                    name="synthetic",
                    source_path="/nonexistent",
                    chips_dir="/nonexistent",
                    driver="GTiff",
                    width=1,
                    height=1,
                    band_count=1,
                    dtype="uint8",
                    crs_wkt="EPSG:4326",
                    transform=[0.0, 1.0, 0.0, 0.0, 0.0, -1.0],
                    footprint=footprint,
                    gsd_m=1.0,
                    chip_size=256,
                    chip_overlap=0,
                    **marking_columns(marking),
                )
            )
            rows["images"][ident] = (marking, project)
        for marking in random_markings(rng, 20):
            project_id = projects.create_project(
                session, system, name=unique("diffp"), marking=marking, classes=[projects.LabelClass("x")]
            )
            rows["projects"][project_id] = (marking, None)
        for index, marking in enumerate(random_markings(rng, 20)):
            audit.record(session, system, ACTION, marking=marking, details={"n": index})
        for ident, cls, sci, dissem, rel in session.execute(
            select(
                AUDIT_LOG.c.id,
                AUDIT_LOG.c.classification,
                AUDIT_LOG.c.sci_controls,
                AUDIT_LOG.c.dissemination,
                AUDIT_LOG.c.rel_to,
            ).where(AUDIT_LOG.c.action == ACTION)
        ):
            marking = Marking(Classification(cls), frozenset(sci), frozenset(dissem), frozenset(rel))
            rows["audit_log"][ident] = (marking, None)
    assert len(rows["audit_log"]) >= 20
    return Pool(projects=[*content, *rows["projects"]], rows=rows)


@pytest.fixture(scope="module")
def owner_engine(test_db: pg.TestDatabase) -> Iterator[Engine]:
    engine = create_engine(test_db.owner_url, pool_size=1)
    with engine.connect() as connection:
        bypass = connection.execute(
            text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).scalar_one()
    if not bypass:
        pytest.skip("the owner is subject to RLS here: the service filter cannot be checked on its own")
    try:
        yield engine
    finally:
        engine.dispose()


def pool_breadth(pool: Pool) -> None:
    """The pool covers what matters: every level, NOFORN, REL TO, CUI/FOUO, SCI."""
    everything = [m for table in pool.rows.values() for m, _ in table.values()]
    assert {int(m.classification) for m in everything} == {0, 1, 2, 3}
    assert any(m.is_noforn for m in everything) and any(m.rel_to for m in everything)
    assert any(m.dissemination & {"CUI", "FOUO"} for m in everything)
    assert any(m.sci_controls for m in everything)


def expected(pool: Pool, table: str, caller: Caller, now: datetime) -> set[Any]:
    access = caller.access
    out = set()
    for ident, (marking, project) in pool.rows[table].items():
        if table == "projects":
            ok = can_read(access, marking, now=now) and (
                caller.is_admin or can_read(access, marking, project_id=str(ident), now=now)
            )
        elif table == "audit_log":
            ok = caller.is_security_officer and can_read(access, marking, now=now)
        else:
            ok = can_read(access, marking, project_id=str(project), now=now)
        if ok:
            out.add(ident)
    return out


def service_filter(table: str, caller: Caller) -> Any:
    t = TABLES[table]
    if table == "projects":
        return project_visible(t, caller)
    if table == "audit_log":
        # The audit route requires the security officer role, then filters by marking.
        return marking_readable(t, caller) if caller.is_security_officer else text("false")
    return readable(t, caller)


def visible_sets(session: Session, pool: Pool, caller: Caller, *, use_filter: bool) -> dict[str, set[Any]]:
    out = {}
    for table, rows in pool.rows.items():
        t = TABLES[table]
        column = t.c[ID_COLUMN.get(table, "id")]
        query = select(column).where(column.in_(list(rows)))
        if use_filter:
            query = query.where(service_filter(table, caller))
        out[table] = set(session.execute(query).scalars())
    return out


def rls_alone(session: Session, pool: Pool) -> dict[str, set[Any]]:
    """Raw SQL, no service filter: what row-level security lets through."""
    out = {}
    for table, rows in pool.rows.items():
        column = ID_COLUMN.get(table, "id")
        result = session.execute(
            text(f"SELECT {column} FROM {table} WHERE {column} = ANY(:ids)"), {"ids": list(rows)}
        )
        out[table] = set(result.scalars())
    return out


@st.composite
def callers(draw: st.DrawFn, pool: Pool) -> Caller:
    level = Classification(draw(st.integers(0, 3)))
    expiry = draw(st.sampled_from((None, "past", "future")))
    now = datetime.now(UTC)
    expires = {None: None, "past": now - timedelta(days=1), "future": now + timedelta(days=1)}[expiry]
    members = draw(st.frozensets(st.sampled_from(range(len(pool.projects)))))
    # Membership of the two content projects matters most: draw it separately, often.
    members |= draw(st.frozensets(st.sampled_from((0, 1))))
    access = UserAccess(
        clearance=level,
        sci_accesses=draw(st.frozensets(st.sampled_from(SCI))),
        citizenship=draw(st.sampled_from(CITIZENSHIPS)),
        cui_ok=draw(st.booleans()),
        clearance_expires=expires,
        projects=frozenset(str(pool.projects[i]) for i in members),
    )
    roles = draw(st.frozensets(st.sampled_from(("admin", "security_officer"))))
    return Caller(user_id=uuid.uuid4(), username="differential", access=access, roles=roles)


def test_the_pool_is_broad(pool: Pool) -> None:
    pool_breadth(pool)


def test_can_read_equals_rls_equals_the_service_filter(
    test_db: pg.TestDatabase, pool: Pool, owner_engine: Engine
) -> None:
    seen_some = {table: 0 for table in TABLES}
    seen_partial = {table: 0 for table in TABLES}

    @settings(max_examples=200, deadline=None)
    @given(caller=callers(pool))
    def check(caller: Caller) -> None:
        now = datetime.now(UTC)
        python = {table: expected(pool, table, caller, now) for table in TABLES}
        with test_db.as_caller(caller) as session:
            through_rls = rls_alone(session, pool)
            filter_and_rls = visible_sets(session, pool, caller, use_filter=True)
        with Session(owner_engine) as session:
            filter_alone = visible_sets(session, pool, caller, use_filter=True)
        for table in TABLES:
            assert through_rls[table] == python[table], (table, "RLS", caller.access, caller.roles)
            assert filter_and_rls[table] == python[table], (table, "filter+RLS", caller.access)
            assert filter_alone[table] == python[table], (table, "filter alone", caller.access)
            seen_some[table] += bool(python[table])
            seen_partial[table] += 0 < len(python[table]) < len(pool.rows[table])

    check()
    # The examples were not all trivial (nothing visible, or everything).
    for table in TABLES:
        assert seen_partial[table] >= 10, (table, seen_some[table], seen_partial[table])


def test_collection_extents_show_exactly_the_readable_markings(
    test_db: pg.TestDatabase, pool: Pool, owner_engine: Engine
) -> None:
    """Issue 21: ``annotation_extents`` (kept by a trigger on annotations, per project and marking) shows a
    reader the rows of the markings they may read, through RLS, the service filter, and ``can_read``."""
    content = [p for p in pool.projects if any(p == q for _, q in pool.rows["annotations"].values())]
    keys = {
        (project, tuple(sorted(marking_columns(m)["sci_controls"])), m.banner()): m
        for m, project in pool.rows["annotations"].values()
    }
    columns = (
        "project_id, classification, sci_controls, dissemination, rel_to FROM annotation_extents "
        "WHERE project_id = ANY(:projects)"
    )

    def as_keys(rows: Any) -> set[tuple[Any, ...]]:
        out = set()
        for project, level, sci, dissemination, rel_to in rows:
            marking = marking_of(
                {
                    "classification": level,
                    "sci_controls": sci,
                    "dissemination": dissemination,
                    "rel_to": rel_to,
                }
            )
            out.add((project, tuple(sorted(sci)), marking.banner()))
        return out

    with Session(owner_engine) as session:
        everything = as_keys(session.execute(text(f"SELECT {columns}"), {"projects": content}))
    assert everything == set(keys)  # one row per project and marking the pool's annotations have

    @settings(max_examples=100, deadline=None)
    @given(caller=callers(pool))
    def check(caller: Caller) -> None:
        now = datetime.now(UTC)
        python = {
            key
            for key, marking in keys.items()
            if can_read(caller.access, marking, project_id=str(key[0]), now=now)
        }
        with test_db.as_caller(caller) as session:
            through_rls = as_keys(session.execute(text(f"SELECT {columns}"), {"projects": content}))
        with Session(owner_engine) as session:
            filtered = select(
                ANNOTATION_EXTENTS.c.project_id,
                ANNOTATION_EXTENTS.c.classification,
                ANNOTATION_EXTENTS.c.sci_controls,
                ANNOTATION_EXTENTS.c.dissemination,
                ANNOTATION_EXTENTS.c.rel_to,
            ).where(ANNOTATION_EXTENTS.c.project_id.in_(content), readable(ANNOTATION_EXTENTS, caller))
            filter_alone = as_keys(session.execute(filtered))
        assert through_rls == python == filter_alone, caller.access

    check()


def test_the_sql_rule_function_equals_can_read_on_generated_markings(test_db: pg.TestDatabase) -> None:
    """The policies' marking function itself, on markings hypothesis generates (not only the pool's)."""

    @settings(max_examples=200, deadline=None)
    @given(
        marking=markings(),
        level=st.integers(0, 3),
        sci=st.frozensets(st.sampled_from(SCI)),
        citizenship=st.sampled_from(CITIZENSHIPS),
        cui_ok=st.booleans(),
    )
    def check(marking: Marking, level: int, sci: frozenset[str], citizenship: str, cui_ok: bool) -> None:
        access = UserAccess(
            clearance=Classification(level),
            sci_accesses=sci,
            citizenship=citizenship,
            cui_ok=cui_ok,
            clearance_expires=None,
        )
        caller = Caller(user_id=None, username="differential", access=access)
        columns = marking_columns(marking)
        with test_db.as_caller(caller) as session:
            set_caller_context(session, caller)
            sql = session.execute(
                text(
                    "SELECT geo_label_can_read_marking(CAST(:c AS smallint), CAST(:s AS text[]), "
                    "CAST(:d AS text[]), CAST(:r AS text[]))"
                ),
                {
                    "c": columns["classification"],
                    "s": columns["sci_controls"],
                    "d": columns["dissemination"],
                    "r": columns["rel_to"],
                },
            ).scalar_one()
        assert sql == can_read(access, marking), (marking.banner(), access)

    check()


def test_the_fixed_pool_marking_generator_is_deterministic() -> None:
    first = [m.banner() for m in random_markings(random.Random(7), 25)]
    assert first == [m.banner() for m in random_markings(random.Random(7), 25)]
    assert len(set(first)) > 10
