"""The database's own defenses, read from the catalog of a migrated database (MARKINGS.md sections 6 and 7):
FORCE row-level security on every marked table, a service role with no way around it, an append-only audit
trail whose hash chain detects tampering, and no view over marked tables that runs with its owner's rights."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from geo_label import audit
from geo_label.db.engine import SERVICE_ROLE, service_url
from tests import pg
from tests.world import make_project, make_user, unique

#: What the initial migration marks; any other table that grows marking columns must be protected as well.
MARKED = {"projects", "images", "chips", "annotations", "annotation_versions", "audit_log"}
CONTEXT = {
    "geo_label.user_id": "-",
    "geo_label.clearance": "3",
    "geo_label.sci": "HCS,SI,TK",
    "geo_label.citizenship": "USA",
    "geo_label.cui_ok": "true",
    "geo_label.projects": "-",
    "geo_label.roles": "security_officer",
}

Connection = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture(scope="module", autouse=True)
def content(test_db: pg.TestDatabase) -> None:
    """Some marked content and audit records, so the checks never run over empty tables."""
    for marking in ("UNCLASSIFIED", "SECRET//NOFORN", "TOP SECRET//SI"):
        make_project(test_db, marking)
        make_user(test_db, unique("cat"), "TS//SI")


@pytest.fixture
def owner(test_db: pg.TestDatabase) -> Iterator[Connection]:
    with psycopg.connect(pg.libpq(test_db.owner_url)) as connection:
        yield connection
        connection.rollback()


@pytest.fixture
def service(test_db: pg.TestDatabase) -> Iterator[Connection]:
    """The service role, as the API connects; each test's work is rolled back."""
    with psycopg.connect(pg.libpq(service_url(test_db.owner_url))) as connection:
        assert connection.execute("SELECT current_user").fetchone() == (SERVICE_ROLE,)
        yield connection
        connection.rollback()


def with_context(connection: Connection) -> None:
    """A caller context for this transaction only, as the service sets it."""
    for name, value in CONTEXT.items():
        connection.execute("SELECT set_config(%s, %s, true)", (name, value))


def marked_tables(connection: Connection) -> dict[str, tuple[bool, bool]]:
    rows = connection.execute(
        """
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'classification' AND NOT a.attisdropped
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        """
    ).fetchall()
    return {name: (enabled, forced) for name, enabled, forced in rows}


def test_every_table_with_marking_columns_enables_and_forces_row_level_security(owner: Connection) -> None:
    tables = marked_tables(owner)
    assert set(tables) >= MARKED
    unprotected = {name: flags for name, flags in tables.items() if flags != (True, True)}
    assert unprotected == {}


def test_every_marked_table_has_policies_and_none_lets_everything_through(owner: Connection) -> None:
    policies = owner.execute(
        "SELECT tablename, policyname, cmd, roles::text[], qual, with_check FROM pg_policies "
        "WHERE schemaname = 'public'"
    ).fetchall()
    by_table: dict[str, set[str]] = {}
    for table, name, cmd, roles, qual, _ in policies:
        by_table.setdefault(table, set()).add(cmd)
        if table in MARKED and cmd in ("SELECT", "ALL", "UPDATE", "DELETE"):
            applies_to_service = "public" in roles or SERVICE_ROLE in roles
            assert not (applies_to_service and (qual or "").strip() in ("", "true")), (table, name)
    for table in MARKED:
        assert "SELECT" in by_table.get(table, set()), f"{table} has no read policy: nothing is readable"


def test_the_service_role_owns_nothing_and_cannot_bypass_row_level_security(owner: Connection) -> None:
    role = owner.execute(
        "SELECT oid, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
        (SERVICE_ROLE,),
    ).fetchone()
    assert role is not None
    oid, superuser, bypass, createrole, createdb = role
    assert (superuser, bypass, createrole, createdb) == (False, False, False, False)
    owned = owner.execute(
        """
        SELECT 'relation ' || relname FROM pg_class WHERE relowner = %(r)s
        UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proowner = %(r)s
        UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspowner = %(r)s
        UNION ALL SELECT 'type ' || typname FROM pg_type WHERE typowner = %(r)s
        UNION ALL SELECT 'database ' || datname FROM pg_database WHERE datdba = %(r)s
        """,
        {"r": oid},
    ).fetchall()
    assert owned == []
    # Not a member of any role (no SET ROLE to the owner), and cannot create objects it would own.
    assert owner.execute("SELECT count(*) FROM pg_auth_members WHERE member = %s", (oid,)).fetchone() == (0,)
    assert owner.execute(
        "SELECT has_schema_privilege(%s, 'public', 'CREATE'), "
        "has_database_privilege(%s, current_database(), 'CREATE')",
        (SERVICE_ROLE, SERVICE_ROLE),
    ).fetchone() == (False, False)


@pytest.mark.parametrize(
    ("table", "refused"),
    [
        ("audit_log", ("UPDATE", "DELETE", "TRUNCATE")),
        ("audit_chain_head", ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")),
        ("annotation_versions", ("UPDATE", "DELETE", "TRUNCATE")),
    ],
)
def test_the_service_role_has_no_privilege_to_rewrite_history(
    owner: Connection, table: str, refused: tuple[str, ...]
) -> None:
    for privilege in refused:
        granted = owner.execute("SELECT has_table_privilege(%s, %s, %s)", (SERVICE_ROLE, table, privilege))
        assert granted.fetchone() == (False,), (table, privilege)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET action = 'rewritten'",
        "UPDATE audit_log SET details = '{}' WHERE id = (SELECT max(id) FROM audit_log)",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)",
        "TRUNCATE audit_log",
        "TRUNCATE audit_log CASCADE",
        "UPDATE audit_chain_head SET last_hash = '\\x00'",
        "SELECT * FROM audit_chain_head",
        "DELETE FROM annotation_versions",
        "UPDATE annotation_versions SET label_class = 'rewritten'",
    ],
)
def test_the_database_refuses_the_service_role_rewriting_the_audit_trail(
    service: Connection, statement: str
) -> None:
    with_context(service)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        service.execute(statement)


def test_the_service_role_appends_but_cannot_forge_the_chain(service: Connection) -> None:
    with_context(service)
    inserted = service.execute(
        "INSERT INTO audit_log (action, at, prev_hash, hash) "
        "VALUES ('test.append', '2000-01-01', '\\xdead', '\\xbeef') RETURNING id, at, prev_hash, hash"
    ).fetchone()
    assert inserted is not None
    _, at, prev_hash, digest = inserted
    assert bytes(prev_hash) != b"\xde\xad" and bytes(digest) != b"\xbe\xef" and len(bytes(digest)) == 32
    assert at.year > 2000, "the database stamps the time, not the caller"
    service.rollback()


@pytest.fixture
def owner_tx(test_db: pg.TestDatabase) -> Iterator[Session]:
    """A transaction as the owner (a superuser in the tests), always rolled back: tampering stays local."""
    engine = create_engine(test_db.owner_url)
    try:
        with Session(engine) as session:
            yield session
            session.rollback()
    finally:
        engine.dispose()


def verify(session: Session) -> list[tuple[int, str]]:
    return audit.verify_chain(session, pg.AUDIT_KEY)


def some_record(session: Session) -> tuple[int, int, int]:
    """(a record in the middle, the one after it, the last) of the chain."""
    ids = session.execute(text("SELECT id FROM audit_log ORDER BY id")).scalars().all()
    assert len(ids) >= 3, "the test database has an audit trail by now"
    middle = len(ids) // 2
    return ids[middle], ids[middle + 1], ids[-1]


def test_the_audit_chain_verifies(owner_tx: Session) -> None:
    assert verify(owner_tx) == []


def test_an_edited_record_is_detected(owner_tx: Session) -> None:
    middle, _, _ = some_record(owner_tx)
    edited = owner_tx.execute(
        text("UPDATE audit_log SET details = details || '{\"tampered\": true}' WHERE id = :id"),
        {"id": middle},
    )
    assert edited.rowcount == 1  # type: ignore[attr-defined]
    assert verify(owner_tx) == [(middle, "hash does not match the record")]


@pytest.mark.parametrize(
    "column", ["actor_name", "action", "item_type", "item_id", "classification", "rel_to"]
)
def test_an_edit_of_any_field_is_detected(owner_tx: Session, column: str) -> None:
    middle, _, _ = some_record(owner_tx)
    value = {
        "classification": "(classification + 1) % 4",
        "rel_to": "array_append(rel_to, 'ZZZ')",
    }.get(column, f"coalesce({column}, '') || '-forged'")
    owner_tx.execute(text(f"UPDATE audit_log SET {column} = {value} WHERE id = :id"), {"id": middle})
    assert (middle, "hash does not match the record") in verify(owner_tx)


def test_a_removed_record_is_detected(owner_tx: Session) -> None:
    middle, after, _ = some_record(owner_tx)
    owner_tx.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": middle})
    assert verify(owner_tx) == [
        (middle, "a sealed record is missing"),
        (after, "not linked to the previous record"),
    ]


def test_a_removed_last_record_is_detected(owner_tx: Session) -> None:
    _, _, last = some_record(owner_tx)
    owner_tx.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": last})
    problems = verify(owner_tx)
    assert sorted(p for _, p in problems) == ["a sealed record is missing", "the last record is missing"]


def test_a_rehashed_record_still_breaks_the_link_to_the_next(owner_tx: Session) -> None:
    """An attacker who recomputes the edited record's own hash still breaks the next record's link."""
    middle, after, _ = some_record(owner_tx)
    owner_tx.execute(text("UPDATE audit_log SET details = '{\"forged\": 1}' WHERE id = :id"), {"id": middle})
    owner_tx.execute(
        text(
            "UPDATE audit_log a SET hash = sha256(a.prev_hash || geo_label_audit_payload(a)) WHERE id = :id"
        ),
        {"id": middle},
    )
    assert verify(owner_tx) == [
        (middle, "the seal does not match the record (rewritten without the key)"),
        (after, "not linked to the previous record"),
    ]


#: The owner's rewrite of history: every record from ``start`` on rehashed in order, and the head moved, as
#: an owner who knows the (public) unkeyed chain would do it.
RECHAIN = """
DO $$
DECLARE
    r audit_log;
    previous bytea := coalesce(
        (SELECT hash FROM audit_log WHERE id < %(start)s ORDER BY id DESC LIMIT 1), '');
BEGIN
    FOR r IN SELECT * FROM audit_log WHERE id >= %(start)s ORDER BY id LOOP
        r.prev_hash := previous;
        r.hash := sha256(previous || geo_label_audit_payload(r));
        UPDATE audit_log SET prev_hash = r.prev_hash, hash = r.hash WHERE id = r.id;
        previous := r.hash;
    END LOOP;
    UPDATE audit_chain_head SET last_hash = previous;
END $$;
"""


def rechain(session: Session, start: int) -> None:
    session.connection().exec_driver_sql(RECHAIN % {"start": int(start)})


def test_a_removed_record_with_a_recomputed_chain_is_detected(owner_tx: Session) -> None:
    """Issue 17 item 13: the database owner removes a record (and its seal) and recomputes the unkeyed chain
    after it; the seals, made with a key the database never held, no longer match."""
    middle, after, last = some_record(owner_tx)
    owner_tx.execute(text("DELETE FROM audit_seals WHERE record_id = :id"), {"id": middle})
    owner_tx.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": middle})
    rechain(owner_tx, middle)
    chain_only = owner_tx.execute(text("SELECT count(*) FROM geo_label_audit_verify()")).scalar_one()
    assert chain_only == 0, "the unkeyed chain alone verifies: this is the attack"
    problems = verify(owner_tx)
    assert (after, "the seal does not match the record (rewritten without the key)") in problems
    assert (last, "the seal does not match the record (rewritten without the key)") in problems


def test_an_edited_record_with_a_recomputed_chain_is_detected(owner_tx: Session) -> None:
    middle, _, _ = some_record(owner_tx)
    owner_tx.execute(text("UPDATE audit_log SET actor_name = 'someone else' WHERE id = :id"), {"id": middle})
    rechain(owner_tx, middle)
    assert (middle, "the seal does not match the record (rewritten without the key)") in verify(owner_tx)


def test_a_record_written_past_the_service_has_no_seal(owner_tx: Session) -> None:
    owner_tx.execute(text("INSERT INTO audit_log (action, prev_hash, hash) VALUES ('forged', '', '')"))
    forged = owner_tx.execute(text("SELECT max(id) FROM audit_log")).scalar_one()
    assert verify(owner_tx) == [(forged, "the record has no seal (written without the audit key)")]


def test_records_from_before_the_key_are_sealed_by_the_upgrade(owner_tx: Session) -> None:
    owner_tx.execute(text("INSERT INTO audit_log (action, prev_hash, hash) VALUES ('legacy', '', '')"))
    legacy = owner_tx.execute(text("SELECT max(id) FROM audit_log")).scalar_one()
    owner_tx.execute(text("UPDATE audit_keying SET keyed_from = :id"), {"id": legacy})
    assert audit.seal_legacy(owner_tx, pg.AUDIT_KEY) == 1
    assert verify(owner_tx) == []
    assert audit.seal_legacy(owner_tx, pg.AUDIT_KEY) == 0


def test_the_service_role_may_only_add_seals(service: Connection) -> None:
    with_context(service)
    for statement in (
        "SELECT * FROM audit_seals",
        "DELETE FROM audit_seals",
        "UPDATE audit_seals SET mac = ''",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            service.execute(statement)
        service.rollback()
        with_context(service)


FIND_VIEWS = """
SELECT DISTINCT v.relname, v.relkind, coalesce(v.reloptions, '{}') AS options
FROM pg_class v
JOIN pg_rewrite r ON r.ev_class = v.oid
JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
    AND d.refclassid = 'pg_class'::regclass
JOIN pg_class t ON t.oid = d.refobjid AND t.oid <> v.oid
WHERE v.relkind IN ('v', 'm') AND t.relname = ANY(%s)
"""


def unsafe_views(connection: Connection, marked: set[str]) -> list[str]:
    """Views over marked tables that do not run as the invoker (so RLS would see their owner), and any
    materialized view over them (it stores rows outside RLS altogether)."""
    out = []
    for name, kind, options in connection.execute(FIND_VIEWS, (sorted(marked),)).fetchall():
        if kind == "m" or not ({"security_invoker=true", "security_invoker=on"} & set(options)):
            out.append(name)
    return sorted(out)


def test_views_over_marked_tables_run_as_the_invoker(owner: Connection) -> None:
    assert unsafe_views(owner, set(marked_tables(owner))) == []


def test_the_view_check_finds_an_unsafe_view(owner: Connection) -> None:
    """The check above is not vacuous: a plain view over a marked table is found, a security_invoker one
    is not (created in a transaction that is rolled back)."""
    owner.execute("CREATE VIEW test_plain_view AS SELECT id, label_class FROM annotations")
    owner.execute(
        "CREATE VIEW test_invoker_view WITH (security_invoker = true) AS "
        "SELECT v.id FROM test_plain_view v JOIN chips c ON true"
    )
    owner.execute("CREATE MATERIALIZED VIEW test_stored_view AS SELECT id FROM chips WITH NO DATA")
    found = unsafe_views(owner, set(marked_tables(owner)))
    assert found == ["test_plain_view", "test_stored_view"]
    owner.rollback()


def test_statistics_of_marked_tables_are_not_visible_to_the_service_role(
    test_db: pg.TestDatabase, service: Connection
) -> None:
    """pg_stats holds most-common values (labels, attributes): PostgreSQL hides them for RLS tables."""
    with psycopg.connect(pg.libpq(test_db.owner_url), autocommit=True) as owner:
        owner.execute("ANALYZE")
        assert owner.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'projects'").fetchone() != (0,)
    with_context(service)
    rows = service.execute(
        "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = ANY(%s)", (sorted(MARKED),)
    ).fetchone()
    assert rows == (0,)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        service.execute("SELECT count(*) FROM pg_statistic")
