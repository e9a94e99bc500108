"""End to end through the API: sign in, find chips, annotate, read back, update with If-Match, history."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from shapely.geometry import box, mapping, shape

from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import add_member, chip_ids, ingest, make_project, make_user, unique


def test_labeler_annotates_a_chip(
    client: TestClient, test_db: TestDatabase, utm_image: Path, data_dir: Path
) -> None:
    project = make_project(test_db, "SECRET//REL TO USA, GBR")
    labeler = make_user(test_db, unique("ann"), "S", "USA")
    add_member(test_db, project, labeler)
    image = ingest(test_db, project, utm_image, data_dir, "SECRET//REL TO USA, GBR")
    headers = token(client, labeler)

    projects = client.get("/api/v1/projects", headers=headers).json()
    assert [p["id"] for p in projects["items"]] == [str(project)] and projects["total"] == 1
    assert projects["items"][0]["marking"] == "SECRET//REL TO USA, GBR"

    chips = client.get(f"/api/v1/chips?project={project}", headers=headers).json()
    assert chips["total"] == len(chip_ids(test_db, image)) > 0
    chip = chips["items"][0]
    footprint = shape(chip["geometry"])
    west, south, east, north = footprint.bounds
    square = box(
        west + (east - west) * 0.4,
        south + (north - south) * 0.4,
        west + (east - west) * 0.6,
        south + (north - south) * 0.6,
    )
    bbox = f"{west},{south},{east},{north}"
    assert client.get(f"/api/v1/chips?project={project}&bbox={bbox}", headers=headers).json()["total"] >= 1

    created = client.post(
        "/api/v1/annotations",
        headers=headers,
        json={
            "chip_id": chip["id"],
            "class": "building",
            "geometry": mapping(square),
            "attributes": {"floors": 3},
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["marking"] == "SECRET//REL TO USA, GBR" and body["version"] == 1
    assert created.headers["etag"] == '"1"'
    assert created.headers["cache-control"] == "private, no-store"

    got = client.get(f"/api/v1/annotations/{body['id']}", headers=headers)
    assert got.status_code == 200 and got.headers["etag"] == '"1"'

    no_match = client.patch(
        f"/api/v1/annotations/{body['id']}", headers=headers, json={"attributes": {"floors": 4}}
    )
    assert no_match.status_code == 428
    updated = client.patch(
        f"/api/v1/annotations/{body['id']}",
        headers={**headers, "If-Match": '"1"'},
        json={"attributes": {"floors": 4}},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2
    stale = client.patch(
        f"/api/v1/annotations/{body['id']}",
        headers={**headers, "If-Match": '"1"'},
        json={"attributes": {"floors": 5}},
    )
    assert stale.status_code == 412

    listed = client.get(f"/api/v1/annotations?project={project}", headers=headers).json()
    assert listed["total"] == 1 and listed["items"][0]["attributes"] == {"floors": 4}

    deleted = client.delete(f"/api/v1/annotations/{body['id']}", headers={**headers, "If-Match": '"2"'})
    assert deleted.status_code == 204
    assert client.get(f"/api/v1/annotations/{body['id']}", headers=headers).status_code == 404
    history = client.get(f"/api/v1/annotations/{body['id']}/history", headers=headers).json()["items"]
    assert [v["operation"] for v in history] == ["insert", "update", "delete"]
