"""A page of annotations (built from plain rows) says exactly what the single annotation says."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from shapely.geometry import box, mapping, shape

from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import add_member, ingest, make_project, make_user, unique


def test_list_items_equal_the_single_annotation(
    client: TestClient, test_db: TestDatabase, utm_image: Path, data_dir: Path
) -> None:
    project = make_project(test_db, "UNCLASSIFIED")
    analyst = make_user(test_db, unique("page"), "S", "USA")
    add_member(test_db, project, analyst)
    ingest(test_db, project, utm_image, data_dir, "UNCLASSIFIED")
    headers = token(client, analyst)
    chip = client.get(f"/api/v1/chips?project={project}&limit=1", headers=headers).json()["items"][0]
    west, south, east, north = shape(chip["geometry"]).bounds
    width, height = east - west, north - south
    square = box(west + width / 4, south + height / 4, west + width / 2, south + height / 2)
    created = client.post(
        "/api/v1/annotations",
        headers=headers,
        json={
            "chip_id": chip["id"],
            "class": "vehicle",
            "geometry": mapping(square),
            "marking": "SECRET//REL TO USA, GBR",
            "attributes": {},
        },
    )
    assert created.status_code == 201, created.text
    single = client.get(f"/api/v1/annotations/{created.json()['id']}", headers=headers).json()
    page = client.get(
        f"/api/v1/annotations?project={project}&bbox={west},{south},{east},{north}", headers=headers
    ).json()
    assert page["total"] == 1
    assert page["items"] == [single]
    assert single["marking"] == "SECRET//REL TO USA, GBR" and single["class"] == "vehicle"
