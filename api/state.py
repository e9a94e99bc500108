"""What the app holds for its lifetime: settings, the database, keys and verifiers (owned by the lifespan)."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from access_control import MarkingRegistry
from geo_label.db.engine import Database
from geo_label.security.oidc import OidcVerifier
from geo_label.security.throttle import SourceThrottle
from geo_label.settings import Settings


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

    def __post_init__(self) -> None:
        self.db_slots = anyio.Semaphore(self.database.connections)
        self.password_slots = anyio.CapacityLimiter(self.settings.password_checks)
