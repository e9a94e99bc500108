"""Shared helpers of the workflow tests; this module holds no tests itself.

A workflow world is a project with one image ingested (its chips are the tasks), users with roles, and
helpers to act through the API (bearer headers) or through the services (each call its own transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from fastapi.testclient import TestClient
from geoalchemy2.shape import to_shape
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_label import workflow
from geo_label.db.context import Caller
from geo_label.db.models import CHIPS
from tests import pg
from tests.rasters import utm_uint16
from tests.service.conftest import token
from tests.world import add_member, caller, ingest, make_project, make_user, unique

T = TypeVar("T")
API = "/api/v1"
_TOKENS: dict[str, dict[str, str]] = {}


def headers(client: TestClient, username: str) -> dict[str, str]:
    """A bearer header for ``username``, signed in once per test session (PBKDF2 is slow on purpose)."""
    if username not in _TOKENS:
        _TOKENS[username] = token(client, username)
    return _TOKENS[username]


def scene(directory: Path, width: int, height: int, seed: int) -> Path:
    """A uint16 UTM scene of the given size, distinct per seed (so each can be ingested once per project)."""
    path = directory / f"workflow-{width}x{height}-{seed}.tif"
    if not path.exists():
        utm_uint16(path, width=width, height=height, seed=seed)
    return path


@dataclass
class World:
    db: pg.TestDatabase
    project: uuid.UUID
    users: dict[str, str] = field(default_factory=dict)  # role name in the test -> username

    def caller(self, name: str) -> Caller:
        return caller(self.db, self.users[name])

    def call(self, name: str, action: Callable[[Session, Caller], T]) -> T:
        """Run ``action`` as the user called ``name``, in a transaction of its own."""
        who = self.caller(name)
        with self.db.as_caller(who) as session:
            return action(session, who)

    def next(self, name: str, **kwargs: Any) -> Any:
        return self.call(name, lambda s, c: workflow.next_task(s, c, self.project, **kwargs))


def make_world(
    db: pg.TestDatabase,
    image: Path,
    data_dir: Path,
    *,
    project_marking: str = "UNCLASSIFIED",
    image_marking: str = "UNCLASSIFIED",
    chip_size: int = 256,
    members: dict[str, tuple[str, str]] | None = None,
    settings: workflow.WorkflowChanges | None = None,
) -> World:
    """A project with ``image`` ingested and members ``{name: (clearance, role)}``."""
    project = make_project(db, project_marking)
    world = World(db, project)
    for name, (clearance, role) in (members or {}).items():
        world.users[name] = make_user(db, unique(name), clearance)
        add_member(db, project, world.users[name], role)
    ingest(db, project, image, data_dir, image_marking, size=chip_size)
    if settings is not None:
        with db.as_system() as session:
            workflow.update_workflow(session, session.info["caller"], project, settings)
    return world


@contextmanager
def owner(db: pg.TestDatabase) -> Iterator[psycopg.Connection[Any]]:
    """The schema owner's connection (row-level security does not apply): to simulate time and to check."""
    with psycopg.connect(pg.libpq(db.owner_url), autocommit=True) as connection:
        yield connection


def footprint(db: pg.TestDatabase, chip_id: uuid.UUID | str) -> BaseGeometry:
    with db.as_system() as session:
        geometry = session.execute(select(CHIPS.c.footprint).where(CHIPS.c.id == uuid.UUID(str(chip_id))))
        return to_shape(geometry.scalar_one())


def square(chip: BaseGeometry, fx: float, fy: float, side: float = 0.1, shift: float = 0.0) -> dict[str, Any]:
    """A square of ``side`` (a fraction of the chip's width) with its lower-left corner at (fx, fy) of the
    chip's bounds, moved right by ``shift`` sides. Two equal squares shifted by d sides have IoU
    (1 - d) / (1 + d): 0.6 at d = 1/4, 1/3 at d = 1/2."""
    west, south, east, north = chip.bounds
    size = (east - west) * side
    x = west + (east - west) * fx + shift * size
    y = south + (north - south) * fy
    return dict(mapping(box(x, y, x + size, y + size)))


def annotate(
    client: TestClient,
    auth: dict[str, str],
    chip_id: Any,
    geometry: dict[str, Any],
    label_class: str = "building",
) -> dict[str, Any]:
    response = client.post(
        f"{API}/annotations",
        headers=auth,
        json={"chip_id": str(chip_id), "class": label_class, "geometry": geometry},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def audit_actions(db: pg.TestDatabase, task_id: Any) -> list[str]:
    with owner(db) as connection:
        rows = connection.execute(
            "SELECT action FROM audit_log WHERE item_type = 'task' AND item_id = %s ORDER BY id",
            (str(task_id),),
        ).fetchall()
    return [r[0] for r in rows]
