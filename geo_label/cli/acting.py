"""One transaction as the server's operator, or as a named user with that user's access (`--as`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from geo_label.callers import load_caller_by_name
from geo_label.cli.common import registry_for
from geo_label.db.context import Caller
from geo_label.db.runtime import open_database, system_session
from geo_label.settings import load_settings


@contextmanager
def acting(as_user: str | None) -> Iterator[tuple[Session, Caller]]:
    """One transaction as the operator, or as ``as_user`` (committed when the block ends normally)."""
    settings = load_settings()
    registry = registry_for(settings)
    with open_database(settings, pool_size=1) as database:
        if as_user is None:
            with system_session(database, registry) as session:
                yield session, session.info["caller"]
            return
        with database.sessions() as session:
            caller = load_caller_by_name(session, as_user)
        with database.transaction(caller) as session:
            yield session, caller
