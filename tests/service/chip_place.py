"""A project with members and an ingested scene, and squares drawn on its first chip: what many API tests
start from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from shapely.geometry import box, mapping, shape

from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import add_member, ingest, make_project, make_user, unique


@dataclass(frozen=True)
class ChipPlace:
    client: TestClient
    project: uuid.UUID
    users: list[str]
    headers: list[dict[str, str]]  # each user's, signed in
    chip: dict[str, Any]
    west: float
    south: float
    step: float  # a tenth of the chip's width

    def square(self, k: float, *, size: float = 0.5, up: float = 1.0) -> dict[str, Any]:
        """A GeoJSON square of ``size`` steps, ``k`` steps east of the chip's west edge and ``up`` north."""
        west, south = self.west + self.step * k, self.south + self.step * up
        return dict(mapping(box(west, south, west + self.step * size, south + self.step * size)))

    def draw(self, k: float, *, marking: str | None = None, user: int = 0) -> dict[str, Any]:
        """A vehicle at ``square(k)`` saved through the API by the ``user``-th member; its annotation."""
        body: dict[str, Any] = {"chip_id": self.chip["id"], "class": "vehicle", "geometry": self.square(k)}
        if marking is not None:
            body["marking"] = marking
        response = self.client.post("/api/v1/annotations", headers=self.headers[user], json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


def chip_place(
    client: TestClient,
    test_db: TestDatabase,
    image: Path,
    data_dir: Path,
    clearances: tuple[str, ...],
    *,
    prefix: str = "place",
) -> ChipPlace:
    """An UNCLASSIFIED project with one member per clearance (US citizens) and ``image`` ingested."""
    project = make_project(test_db, "UNCLASSIFIED")
    users = [make_user(test_db, unique(prefix), clearance, "USA") for clearance in clearances]
    for user in users:
        add_member(test_db, project, user)
    ingest(test_db, project, image, data_dir, "UNCLASSIFIED")
    headers = [token(client, user) for user in users]
    chip = client.get(f"/api/v1/chips?project={project}&limit=1", headers=headers[0]).json()["items"][0]
    west, south, east, _ = shape(chip["geometry"]).bounds
    return ChipPlace(client, project, users, headers, chip, west, south, (east - west) / 10)
