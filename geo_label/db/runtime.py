"""Where the database is: the server named by GEO_LABEL_DATABASE_URL, or GeoLabel's private cluster under the
data directory (started on demand, shared with other GeoLabel processes, stopped by the last one out)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

from access_control import MarkingRegistry
from geo_label.db.context import set_caller_context, system_caller
from geo_label.db.engine import Database
from geo_label.private_files import prepare_data_dir
from geo_label.security.keys import load_or_create_audit_key
from geo_label.settings import Settings


@contextmanager
def owner_url(settings: Settings) -> Iterator[str]:
    """The schema owner's URL, holding the embedded cluster's lease while in use."""
    embedded = not settings.database_url
    # Run as root, the embedded PostgreSQL runs as the postgres account, which must reach its own folder.
    prepare_data_dir(
        settings.data_dir, traversable=embedded and os.geteuid() == 0, service_group=settings.service_group
    )
    if settings.database_url:
        yield settings.database_url
        return
    from geo_label.db.embedded import embedded_database

    with embedded_database(settings.data_dir) as cluster:
        yield cluster.url()


@contextmanager
def open_database(settings: Settings, *, pool_size: int = 10) -> Iterator[Database]:
    with owner_url(settings) as url:
        database = Database.connect(url, audit_key=load_or_create_audit_key(settings), pool_size=pool_size)
        try:
            yield database
        finally:
            database.dispose()


@contextmanager
def system_session(database: Database, registry: MarkingRegistry) -> Iterator[Session]:
    """A transaction as the operator at the server's command line: every project, every SCI control of the
    registry. ``session.info["caller"]`` is the caller to pass to services (their acts are audited)."""
    with database.sessions() as session, session.begin():
        set_caller_context(session, system_caller(registry.sci_controls, frozenset()))
        project_ids = frozenset(session.execute(text("SELECT id::text FROM projects")).scalars())
        caller = system_caller(registry.sci_controls, project_ids)
        set_caller_context(session, caller)
        session.info["caller"] = caller
        yield session
