"""Factories that build real records through GeoLabel's own services (never raw inserts)."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select

from access_control import default_registry, parse_marking
from geo_label import projects, users
from geo_label.callers import load_caller_by_name
from geo_label.db.context import Caller
from geo_label.images import prepare_image, register_image
from geo_label.security.passwords import hasher_for
from geo_label.settings import PasswordScheme
from tests.pg import TestDatabase
from tiling import TileParameters

PASSWORD = "correct horse battery staple"
_HASH: dict[str, str] = {}


def password_hash() -> str:
    if "h" not in _HASH:
        _HASH["h"] = hasher_for(PasswordScheme.PBKDF2_SHA256).hash(PASSWORD)
    return _HASH["h"]


def make_user(
    db: TestDatabase,
    username: str,
    clearance: str,
    citizenship: str = "USA",
    *,
    cui_ok: bool = False,
    roles: frozenset[str] = frozenset(),
) -> str:
    with db.as_system() as session:
        caller: Caller = session.info["caller"]
        access = users.Clearance.parse(
            clearance, citizenship=citizenship, cui_ok=cui_ok, registry=default_registry()
        )
        users.create_user(
            session, caller, username=username, password_hash=password_hash(), clearance=access, roles=roles
        )
    return username


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_project(
    db: TestDatabase,
    marking: str = "UNCLASSIFIED",
    classes: list[projects.LabelClass] | None = None,
    name: str | None = None,
) -> uuid.UUID:
    classes = classes or [
        projects.LabelClass("vehicle"),
        projects.LabelClass(
            "building",
            ("Polygon", "MultiPolygon"),
            (
                {"name": "floors", "type": "integer"},
                {"name": "use", "type": "enum", "values": ["civil", "military"]},
            ),
        ),
    ]
    with db.as_system() as session:
        return projects.create_project(
            session,
            session.info["caller"],
            name=name or unique("project"),
            marking=parse_marking(marking),
            classes=classes,
        )


def add_member(db: TestDatabase, project_id: uuid.UUID, username: str, role: str = "labeler") -> None:
    with db.as_system() as session:
        projects.add_member(
            session, session.info["caller"], project_id=project_id, username=username, role=role
        )


def ingest(
    db: TestDatabase,
    project_id: uuid.UUID,
    image: Path,
    data_dir: Path,
    marking: str,
    size: int = 256,
    overlap: int = 0,
) -> uuid.UUID:
    with db.as_system() as session:
        project = projects.get_project(session, session.info["caller"], project_id)
    prepared = prepare_image(
        image,
        project=project,
        operator_marking=parse_marking(marking),
        registry=default_registry(),
        data_dir=data_dir,
        params=TileParameters(size=size, overlap=overlap),
    )
    with db.as_system() as session:
        image_id, _ = register_image(session, session.info["caller"], project=project, prepared=prepared)
    return image_id


def chip_ids(db: TestDatabase, image_id: uuid.UUID) -> list[uuid.UUID]:
    from geo_label.db.models import CHIPS

    with db.as_system() as session:
        rows = session.execute(
            select(CHIPS.c.id).where(CHIPS.c.image_id == image_id).order_by(CHIPS.c.row_off, CHIPS.c.col_off)
        )
        return list(rows.scalars())


def caller(db: TestDatabase, username: str) -> Caller:
    with db.database.sessions() as session:
        return load_caller_by_name(session, username)
