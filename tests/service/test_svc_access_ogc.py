"""MARKINGS.md section 8 for the OGC API - Features view of the same data: a collection's extent (space and
time), numberMatched and the pages count and show only the caller's readable annotations; hidden features and
collections look missing; every answer is private, no-store."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape

from tests import pg
from tests.service.test_svc_access_support import (
    NO_STORE,
    TS_SI,
    VISIBLE,
    MixedWorld,
    U,
    assert_same_answer,
    build_mixed_world,
    headers,
)

ROLES = ("ts_usa", "s_usa", "s_gbr", "c_usa", "u_usa")


@pytest.fixture(scope="module")
def world(
    client: TestClient, test_db: pg.TestDatabase, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> MixedWorld:
    if "/ogc/collections/{collectionId}" not in client.app.openapi()["paths"]:  # type: ignore[attr-defined]
        pytest.skip("no OGC API in this version")
    # A world of its own: extents only grow (a deleted label's box stays, migration 0013), and the shared
    # world's other users add and delete labels, which the exact extents below would then include.
    return build_mixed_world(client, test_db, data_dir, tmp_path_factory.mktemp("ogc-scenes"), seed_base=300)


ACQUIRED = "2024-05-06T07:08:09Z"  # tests.rasters.utm_uint16's acquisition time


@pytest.mark.parametrize("role", ROLES)
def test_a_collection_extent_covers_only_readable_features(
    client: TestClient, world: MixedWorld, role: str
) -> None:
    auth = headers(client, world.users[role])
    response = client.get(f"/ogc/collections/{world.project}", headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == NO_STORE
    extent = response.json()["extent"]
    visible = world.visible_annotations(role)
    shapes = [shape(world.annotation_geometry[a]) for a in visible]
    west = min(s.bounds[0] for s in shapes)
    south = min(s.bounds[1] for s in shapes)
    east = max(s.bounds[2] for s in shapes)
    north = max(s.bounds[3] for s in shapes)
    got = extent["spatial"]["bbox"][0]
    # ST_Extent is single precision: a few metres of slack, far less than the spacing of the annotations.
    assert got == pytest.approx([west, south, east, north], abs=1e-4)
    # When: the acquisition times of the imagery the reader may read (the world's scenes share one).
    assert extent["temporal"]["interval"] == [[ACQUIRED, ACQUIRED]]
    listed = client.get("/ogc/collections", headers=auth).json()["collections"]
    mine = [c for c in listed if c["id"] == world.project]
    assert len(mine) == 1 and mine[0]["extent"] == extent


def test_the_extents_differ_by_reader(client: TestClient, world: MixedWorld) -> None:
    """The fixture really places hidden annotations outside the visible ones' box (the test above bites)."""
    boxes = {
        role: client.get(
            f"/ogc/collections/{world.project}", headers=headers(client, world.users[role])
        ).json()["extent"]["spatial"]["bbox"][0]
        for role in ("ts_usa", "u_usa")
    }
    assert boxes["ts_usa"] != pytest.approx(boxes["u_usa"], abs=1e-4)


@pytest.mark.parametrize("role", ROLES)
def test_items_count_and_pages_equal_the_readable_features(
    client: TestClient, world: MixedWorld, role: str
) -> None:
    auth = headers(client, world.users[role])
    expected = world.visible_annotations(role)
    seen: list[str] = []
    offset = 0
    while True:
        page = client.get(f"/ogc/collections/{world.project}/items?limit=3&offset={offset}", headers=auth)
        assert page.status_code == 200 and page.headers["cache-control"] == NO_STORE
        body = page.json()
        assert body["numberMatched"] == len(expected)
        assert body["numberReturned"] == len(body["features"])
        seen += [f["id"] for f in body["features"]]
        if not any(link["rel"] == "next" for link in body["links"]):
            break
        offset += 3
    assert len(seen) == len(set(seen)) and set(seen) == expected
    everywhere = ",".join(str(v) for v in (-180, -90, 180, 90))
    body = client.get(f"/ogc/collections/{world.project}/items?bbox={everywhere}", headers=auth).json()
    assert body["numberMatched"] == len(expected)


@pytest.mark.parametrize(("role", "marking"), [("u_usa", TS_SI), ("s_gbr", TS_SI), ("outsider", U)])
def test_hidden_features_and_collections_look_missing(
    client: TestClient, world: MixedWorld, role: str, marking: str
) -> None:
    assert marking not in VISIBLE[role]
    auth = headers(client, world.users[role])
    hidden = world.annotations[marking][0]
    url = f"/ogc/collections/{world.project}/items/"
    got = client.get(url + hidden, headers=auth)
    assert got.status_code == 404 and got.headers["cache-control"] == NO_STORE
    assert_same_answer(got, client.get(url + str(uuid.uuid4()), headers=auth))
    if role == "outsider":
        for suffix in ("", "/items", f"/items/{hidden}"):
            hidden_collection = client.get(f"/ogc/collections/{world.project}{suffix}", headers=auth)
            assert hidden_collection.status_code == 404
            assert_same_answer(
                hidden_collection, client.get(f"/ogc/collections/{uuid.uuid4()}{suffix}", headers=auth)
            )
        listed: list[dict[str, Any]] = client.get("/ogc/collections", headers=auth).json()["collections"]
        assert all(c["id"] != world.project for c in listed)
