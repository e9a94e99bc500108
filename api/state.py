"""What the app holds for its lifetime: settings, the database, keys and verifiers (owned by the lifespan)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from access_control import MarkingRegistry
from geo_label.db.engine import Database
from geo_label.security.oidc import OidcVerifier
from geo_label.security.throttle import SourceThrottle
from geo_label.settings import Settings

JOB_CONNECTIONS = 2
#: Streamed exports at once in a process, and how long a further one waits for a turn before a 429.
EXPORT_CONNECTIONS = 2
EXPORT_WAIT_S = 2.0


@dataclass
class AppState:
    settings: Settings
    database: Database
    registry: MarkingRegistry
    signing_key: bytes
    oidc: OidcVerifier | None
    #: Admission to the database, one slot per connection (see api.deps.database_slot).
    db_slots: anyio.Semaphore = field(init=False)
    #: Password checks under way at once (api.routes.auth); a sign-in finding none free is answered 429.
    password_slots: anyio.CapacityLimiter = field(init=False)
    throttle: SourceThrottle = field(default_factory=SourceThrottle)
    #: Background prediction imports take turns (api.routes.predictions), on connections of their own: in
    #: this process here, across processes and hosts by an advisory lock (geo_label.predictions.jobs).
    import_turn: threading.Lock = field(default_factory=threading.Lock)
    #: Called when the app stops, last first (what the app itself opened, e.g. its database: served_app).
    closers: list[Callable[[], object]] = field(default_factory=list)
    _jobs_database: Database | None = field(default=None, init=False)
    _exports_database: Database | None = field(default=None, init=False)
    _jobs_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def jobs_database(self) -> Database:
        """The database through a pool of its own (two connections: an import and its progress), so a
        long import never takes a connection a request was admitted for."""
        with self._jobs_lock:
            if self._jobs_database is None:
                self._jobs_database = self.database.with_pool(JOB_CONNECTIONS)
            return self._jobs_database

    def exports_database(self) -> Database:
        """The database through a pool of its own for streamed exports (:data:`EXPORT_CONNECTIONS`): an export
        reads for as long as its download takes, on a connection no request was admitted for."""
        with self._jobs_lock:
            if self._exports_database is None:
                self._exports_database = self.database.with_pool(EXPORT_CONNECTIONS, wait_s=EXPORT_WAIT_S)
            return self._exports_database

    def close(self) -> None:
        if self._jobs_database is not None:
            self._jobs_database.dispose()
        if self._exports_database is not None:
            self._exports_database.dispose()
        while self.closers:
            self.closers.pop()()

    def __post_init__(self) -> None:
        self.db_slots = anyio.Semaphore(self.database.connections)
        self.password_slots = anyio.CapacityLimiter(self.settings.password_checks)
