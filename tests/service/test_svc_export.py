"""Export through the API: readable features only, releasable ones for a recipient, banner on the subset."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping, shape

from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import add_member, ingest, make_project, make_user, unique


def test_export_for_a_partner_drops_what_it_may_not_receive(
    client: TestClient, test_db: TestDatabase, utm_image: Path, data_dir: Path, tmp_path: Path
) -> None:
    project = make_project(test_db, "UNCLASSIFIED")
    analyst = make_user(test_db, unique("exp"), "S", "USA")
    add_member(test_db, project, analyst)
    ingest(test_db, project, utm_image, data_dir, "UNCLASSIFIED")
    headers = token(client, analyst)
    chip = client.get(f"/api/v1/chips?project={project}&limit=1", headers=headers).json()["items"][0]
    west, south, east, north = shape(chip["geometry"]).bounds
    square = mapping(
        box(west + (east - west) / 4, south + (north - south) / 4, (west + east) / 2, (south + north) / 2)
    )
    markings = ["UNCLASSIFIED", "SECRET//REL TO USA, GBR, AUS", "SECRET//NOFORN", "SECRET//REL TO USA, AUS"]
    for marking in markings:
        response = client.post(
            "/api/v1/annotations",
            headers=headers,
            json={"chip_id": chip["id"], "class": "vehicle", "geometry": square, "marking": marking},
        )
        assert response.status_code == 201, response.text

    everything = client.get(f"/api/v1/projects/{project}/export", headers=headers)
    assert everything.status_code == 200
    assert everything.headers["x-geolabel-banner"] == "SECRET//NOFORN"
    assert json.loads(everything.content)["feature_count"] == 4

    for_gbr = client.get(f"/api/v1/projects/{project}/export?recipient=GBR", headers=headers)
    body = json.loads(for_gbr.content)
    assert body["feature_count"] == 2
    assert body["banner"] == "SECRET//REL TO USA, AUS, GBR"
    assert sorted(f["properties"]["marking"] for f in body["features"]) == [
        "(S//REL TO USA, AUS, GBR)",
        "(U)",
    ]
    path = tmp_path / "gbr.geojson"
    path.write_bytes(for_gbr.content)
    frame = gpd.read_file(path)
    assert len(frame) == 2 and frame.crs.to_epsg() == 4326

    unknown = client.get(f"/api/v1/projects/{project}/export?recipient=XXX", headers=headers)
    assert unknown.status_code == 422 and "recipient" in unknown.json()["detail"]
