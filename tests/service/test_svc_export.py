"""Export through the API: readable features only, releasable ones for a recipient, banner on the subset."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping, shape

from tests.pg import TestDatabase
from tests.service.chip_place import chip_place
from tests.service.conftest import token
from tests.world import add_member, caller, ingest, make_project, make_user, unique


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

    requested = client.get(f"/api/v1/projects/{project}/export?recipient=GBR", headers=headers)
    assert requested.status_code == 202, requested.text  # issue 15: a release request, reviewed first
    release = requested.json()
    assert release["features"] == 2 and release["banner"] == "SECRET//REL TO USA, AUS, GBR"
    assert requested.headers["location"] == f"/api/v1/releases/{release['release_request']}"
    officer = make_user(test_db, unique("fdo"), "S", "USA", roles=frozenset({"foreign_disclosure_officer"}))
    approved = client.post(
        f"/api/v1/releases/{release['release_request']}/approve",
        headers=token(client, officer),
        json={"justification": "releasable to GBR"},
    )
    assert approved.status_code == 200 and approved.json()["state"] == "approved", approved.text
    for_gbr = client.get(f"/api/v1/releases/{release['release_request']}/download", headers=headers)
    assert for_gbr.status_code == 200, for_gbr.text
    assert for_gbr.headers["x-geolabel-sha256"] == hashlib.sha256(for_gbr.content).hexdigest()
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


def test_a_streamed_export_opens_with_its_banner_and_ends_with_its_count(
    client: TestClient, test_db: TestDatabase, utm_image: Path, data_dir: Path, tmp_path: Path
) -> None:
    """Issue 21: the API streams GeoJSON and text sequences as it reads them: the banner first (and in the
    header), feature_count and bbox at the end; GDAL reads both as they are."""
    place = chip_place(client, test_db, utm_image, data_dir, ("S",), prefix="stream")
    project, headers = place.project, place.headers[0]
    for k, marking in enumerate(("UNCLASSIFIED", "SECRET//REL TO USA, GBR", "CONFIDENTIAL//REL TO USA, GBR")):
        place.draw(k + 1, marking=marking)

    plain = client.get(f"/api/v1/projects/{project}/export", headers=headers)
    assert plain.status_code == 200 and plain.headers["x-geolabel-banner"] == "SECRET//REL TO USA, GBR"
    assert plain.content.startswith(b'{"type":"FeatureCollection","banner":"SECRET//REL TO USA, GBR"')
    document = json.loads(plain.content)
    assert list(document)[-2:] == ["feature_count", "bbox"] and document["feature_count"] == 3
    path = tmp_path / "streamed.geojson"
    path.write_bytes(plain.content)
    assert len(gpd.read_file(path)) == 3

    sequence = client.get(f"/api/v1/projects/{project}/export?format=geojsonseq", headers=headers)
    records = [json.loads(r) for r in sequence.content.split(b"\x1e") if r.strip()]
    assert records[0]["type"] == records[-1]["type"] == "FeatureCollection"
    assert records[0]["banner"] == records[-1]["banner"] == "SECRET//REL TO USA, GBR"
    assert records[-1]["feature_count"] == 3 and len(records) == 5
    path = tmp_path / "streamed.geojsons"
    path.write_bytes(sequence.content)
    assert len(gpd.read_file(path)) == 3  # GDAL skips the FeatureCollection records


def test_exports_beyond_the_pool_are_told_to_wait(
    client: TestClient, test_db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamed exports read on a pool of their own (two a process): a third waits briefly, then gets 429
    with Retry-After; requests never wait behind a download."""
    from api.routes import export as routes

    state = client.app.state.geo_label  # type: ignore[attr-defined]
    analyst = make_user(test_db, unique("busy"), "S", "USA")
    project = make_project(test_db, "UNCLASSIFIED")
    add_member(test_db, project, analyst)
    headers = token(client, analyst)
    monkeypatch.setattr(state, "_exports_database", state.database.with_pool(1, wait_s=0.1))
    held = routes.snapshot(state, caller(test_db, analyst))
    try:
        busy = client.get(f"/api/v1/projects/{project}/export", headers=headers)
        assert busy.status_code == 429 and busy.headers["retry-after"] == "5"
        assert client.get("/api/v1/me", headers=headers).status_code == 200
    finally:
        held.close()
    assert client.get(f"/api/v1/projects/{project}/export", headers=headers).status_code == 200
    state._exports_database.dispose()
