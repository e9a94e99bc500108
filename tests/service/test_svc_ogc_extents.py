"""Issue 21: a collection's extent comes from ``annotation_extents`` (per project and marking, kept by a
trigger on annotations), not from a scan of the annotations: it grows with every write that reaches
beyond it, never shows a marking the reader may not read, and never shrinks (a deleted label's box stays)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping, shape

from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import add_member, ingest, make_project, make_user, unique


def spatial(client: TestClient, project: Any, headers: dict[str, str]) -> list[float]:
    body = client.get(f"/ogc/collections/{project}", headers=headers).json()
    bbox: list[float] = body["extent"]["spatial"]["bbox"][0]
    return bbox


def test_the_extent_grows_with_writes_and_keeps_to_readable_markings(
    client: TestClient, test_db: TestDatabase, utm_image: Path, data_dir: Path
) -> None:
    project = make_project(test_db, "UNCLASSIFIED")
    secret = make_user(test_db, unique("ext"), "S", "USA")
    plain = make_user(test_db, unique("ext"), "U", "USA")
    for user in (secret, plain):
        add_member(test_db, project, user)
    ingest(test_db, project, utm_image, data_dir, "UNCLASSIFIED")
    writer, reader = token(client, secret), token(client, plain)
    chip = client.get(f"/api/v1/chips?project={project}&limit=1", headers=writer).json()["items"][0]
    west, south, east, _ = shape(chip["geometry"]).bounds
    step = (east - west) / 10

    def square(k: float, marking: str) -> dict[str, Any]:
        geometry = box(west + step * k, south + step, west + step * (k + 0.5), south + step * 1.5)
        body = {"chip_id": chip["id"], "class": "vehicle", "geometry": mapping(geometry), "marking": marking}
        response = client.post("/api/v1/annotations", headers=writer, json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    world = [-180.0, -90.0, 180.0, 90.0]
    assert spatial(client, project, reader) == world  # nothing yet
    first = square(1, "UNCLASSIFIED")
    assert spatial(client, project, reader) == pytest.approx(
        [west + step, south + step, west + step * 1.5, south + step * 1.5]
    )
    far = square(6, "UNCLASSIFIED")
    grown = spatial(client, project, reader)
    assert grown[2] == pytest.approx(west + step * 6.5)
    square(8, "SECRET")  # beyond, but not for the UNCLASSIFIED reader
    assert spatial(client, project, reader) == grown
    assert spatial(client, project, writer)[2] == pytest.approx(west + step * 8.5)

    moved = client.patch(
        f"/api/v1/annotations/{first['id']}",
        headers={**writer, "If-Match": f'"{first["version"]}"'},
        json={
            "geometry": mapping(
                box(west + step * 0.2, south + step * 0.2, west + step * 0.4, south + step * 0.4)
            )
        },
    )
    assert moved.status_code == 200, moved.text
    assert spatial(client, project, reader)[0] == pytest.approx(west + step * 0.2)  # grew west

    deleted = client.delete(
        f"/api/v1/annotations/{far['id']}", headers={**writer, "If-Match": f'"{far["version"]}"'}
    )
    assert deleted.status_code == 204
    assert spatial(client, project, reader)[2] == pytest.approx(west + step * 6.5)  # never shrinks
