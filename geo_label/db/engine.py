"""Connections: the owner (migrations) and the service role (everything else), and the request transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from geo_label.db.context import Caller, set_caller_context

SERVICE_ROLE = "geo_label_app"


def service_url(owner_url: str, password: str | None = None) -> str:
    """The service role's URL: the owner's server and database, the role that owns nothing."""
    url = make_url(owner_url).set(username=SERVICE_ROLE, password=password)
    return url.render_as_string(hide_password=False)


#: Settings of every service connection. Timestamps come back in UTC whatever the server's zone: responses and
#: exports do not depend on it, and psycopg hands out datetime.UTC itself, which the export writes without
#: converting. JIT compilation off (issue 21): above PostgreSQL's cost thresholds it added 100-420 ms of
#: compiling to queries that run in milliseconds (a page, a claim), and nothing the service asks runs long
#: enough for compiled expressions to pay. Every statement planned for its own values
#: (``plan_cache_mode``): psycopg prepares a statement run five times, and PostgreSQL then settled on a plan
#: for any values; one made for a chip-sized bbox took 570 ms for a page over a tenth of a million-row
#: project that its own plan answers in 2 ms. Planning each time costs about 0.4 ms.
SESSION_SETTINGS: dict[str, str] = {
    "options": "-c TimeZone=UTC -c jit=off -c plan_cache_mode=force_custom_plan"
}


@dataclass
class Database:
    """Engines for one GeoLabel database. ``owner_url`` runs migrations; the service role serves requests."""

    owner_url: str
    service_engine: Engine
    #: The key sealing audit records (geo_label.audit); every session carries it.
    audit_key: bytes
    #: Connections the service engine may open at once (its pool and overflow).
    connections: int = 20

    @classmethod
    def connect(
        cls, owner_url: str, *, audit_key: bytes, service_password: str | None = None, pool_size: int = 10
    ) -> Database:
        engine = create_engine(
            service_url(owner_url, service_password),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            connect_args=SESSION_SETTINGS,
        )
        return cls(owner_url=owner_url, service_engine=engine, audit_key=audit_key, connections=2 * pool_size)

    def with_pool(self, connections: int, *, wait_s: float = 30.0) -> Database:
        """The same database through a pool of its own of ``connections`` (for work beside requests); asking
        for one more waits ``wait_s`` seconds at most (then ``sqlalchemy.exc.TimeoutError``)."""
        engine = create_engine(
            self.service_engine.url,
            pool_size=connections,
            max_overflow=0,
            pool_timeout=wait_s,
            pool_pre_ping=True,
            connect_args=SESSION_SETTINGS,
        )
        return Database(self.owner_url, engine, self.audit_key, connections)

    @property
    def sessions(self) -> sessionmaker[Session]:
        return sessionmaker(self.service_engine, expire_on_commit=False, info={"audit_key": self.audit_key})

    @contextmanager
    def transaction(self, caller: Caller) -> Iterator[Session]:
        """One transaction as ``caller``: committed when the block ends normally, rolled back otherwise.
        Services run inside it and only ``flush()``."""
        with self.sessions() as session, session.begin():
            set_caller_context(session, caller)
            yield session

    def dispose(self) -> None:
        self.service_engine.dispose()


def alembic_config(url: str) -> Config:
    script_location = Path(str(resources.files("geo_label.db") / "migrations"))
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_schema(owner_url: str, *, audit_key: bytes) -> None:
    """Apply every migration not yet applied (idempotent), as the owner, then seal the audit records written
    before the audit was keyed (migration 0007) with ``audit_key``: one transaction for both."""
    from geo_label.audit import seal_legacy

    engine = create_engine(owner_url)
    try:
        with engine.begin() as connection:
            config = alembic_config(owner_url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            seal_legacy(Session(bind=connection), audit_key)
    finally:
        engine.dispose()
