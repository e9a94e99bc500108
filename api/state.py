"""What the app holds for its lifetime: settings, the database, keys and verifiers (owned by the lifespan)."""

from __future__ import annotations

from dataclasses import dataclass

from access_control import MarkingRegistry
from geo_label.db.engine import Database
from geo_label.security.oidc import OidcVerifier
from geo_label.settings import Settings


@dataclass
class AppState:
    settings: Settings
    database: Database
    registry: MarkingRegistry
    signing_key: bytes
    oidc: OidcVerifier | None
