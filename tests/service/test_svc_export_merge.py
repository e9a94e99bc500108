"""One object, once (issue 14): an object labeled on overlapping chips is one feature in an export, with
``merged_from``, the roll-up of its parts' markings and the weakest status; different classes, images or
far-apart shapes stay apart; a part the reader may not see is neither merged in nor betrayed."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import LineString, Point, mapping, shape

from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.service.scene import OVERLAP, draw, overlapping_place
from tests.world import add_member, ingest, make_user, unique


@pytest.fixture
def place(client: TestClient, test_db: TestDatabase, utm_image: Path, data_dir: Path) -> dict[str, Any]:
    built = overlapping_place(client, test_db, utm_image, data_dir, "mrg")
    return {**built, "analyst": built["headers"], "reader": built["reader_headers"]}


def export(
    client: TestClient, place: dict[str, Any], who: str = "analyst", query: str = ""
) -> dict[str, Any]:
    response = client.get(f"/api/v1/projects/{place['project']}/export{query}", headers=place[who])
    assert response.status_code == 200, response.text
    return dict(json.loads(response.content))


def test_an_object_on_two_chips_is_one_feature(client: TestClient, place: dict[str, Any]) -> None:
    scene = place["scene"]
    # Columns 200..240 lie in the overlap of the chips starting at columns 0 and 192.
    left = draw(client, place, (0, 0), scene.box(200, 40, 240, 80), marking="SECRET//REL TO USA, GBR")
    right = draw(client, place, (0, 192), scene.box(201, 41, 241, 81), status="submitted")
    body = export(client, place)
    assert body["feature_count"] == 1
    feature = body["features"][0]
    assert feature["id"] == min(left, right)
    assert feature["properties"]["merged_from"] == sorted([left, right])
    assert feature["properties"]["marking"] == "(S//REL TO USA, GBR)"
    assert feature["properties"]["status"] == "draft"
    assert shape(feature["geometry"]).area == pytest.approx(shape(scene.box(200, 40, 241, 81)).area, rel=0.05)
    apart = export(client, place, query="?merge=false")
    assert apart["feature_count"] == 2
    assert all("merged_from" not in f["properties"] for f in apart["features"])


def test_an_object_at_a_corner_of_four_chips_is_one_feature(
    client: TestClient, place: dict[str, Any]
) -> None:
    scene = place["scene"]
    ids = [
        draw(client, place, chip, scene.box(205 + i, 205 + i, 245 + i, 245 + i))
        for i, chip in enumerate([(0, 0), (0, 192), (192, 0), (192, 192)])
    ]
    body = export(client, place)
    assert body["feature_count"] == 1
    assert body["features"][0]["properties"]["merged_from"] == sorted(ids)


def test_a_shape_cut_at_the_chip_edge_joins_the_whole_one(client: TestClient, place: dict[str, Any]) -> None:
    scene = place["scene"]
    # Drawn whole (columns 180..240) on the first chip; the second chip starts at column 192 and shows only
    # columns 192..240 of it: a smaller shape inside the larger one (IoU 0.8 would merge it too, so narrower).
    whole = draw(client, place, (0, 0), scene.box(150, 40, 240, 80))
    cut = draw(client, place, (0, 192), scene.box(192, 40, 240, 80))
    body = export(client, place, query="?merge_iou=0.9")
    assert body["feature_count"] == 1
    assert body["features"][0]["properties"]["merged_from"] == sorted([whole, cut])


def test_what_differs_stays_apart(client: TestClient, place: dict[str, Any]) -> None:
    scene = place["scene"]
    draw(client, place, (0, 0), scene.box(200, 40, 240, 80))
    draw(client, place, (0, 192), scene.box(200, 40, 240, 80), **{"class": "building"})  # another class
    draw(client, place, (0, 0), scene.box(200, 100, 220, 120))
    draw(client, place, (0, 192), scene.box(215, 100, 235, 120))  # IoU 1/7, neither inside the other
    draw(client, place, (0, 0), scene.box(200, 130, 210, 140))
    draw(client, place, (0, 0), scene.box(200, 130, 210, 140))  # the same chip: two labels, not one object
    assert export(client, place)["feature_count"] == 6


def test_points_and_lines_merge_by_distance(client: TestClient, place: dict[str, Any]) -> None:
    scene = place["scene"]
    a = draw(client, place, (0, 0), mapping(Point(scene.lonlat(220, 60))))
    b = draw(client, place, (0, 192), mapping(Point(scene.lonlat(220.1, 60.1))))  # 1.4 m away
    draw(client, place, (0, 192), mapping(Point(scene.lonlat(221, 60))))  # 10 m away: another object
    c = draw(client, place, (0, 0), mapping(LineString([scene.lonlat(195, 150), scene.lonlat(250, 150)])))
    d = draw(
        client, place, (0, 192), mapping(LineString([scene.lonlat(200, 150.05), scene.lonlat(240, 150.05)]))
    )
    body = export(client, place)
    merged = sorted(
        f["properties"]["merged_from"] for f in body["features"] if "merged_from" in f["properties"]
    )
    assert merged == sorted([sorted([a, b]), sorted([c, d])])
    assert body["feature_count"] == 3
    point = next(f for f in body["features"] if f["properties"].get("merged_from") == sorted([a, b]))
    assert point["geometry"]["type"] == "Point"


def test_a_part_the_reader_may_not_see_is_neither_merged_nor_betrayed(
    client: TestClient, place: dict[str, Any]
) -> None:
    scene = place["scene"]
    visible = draw(client, place, (0, 0), scene.box(200, 40, 240, 80))
    hidden = draw(client, place, (0, 192), scene.box(201, 41, 241, 81), marking="TOP SECRET")
    mine = export(client, place, who="reader")
    assert mine["feature_count"] == 1
    assert mine["banner"] == "UNCLASSIFIED"
    feature = mine["features"][0]
    assert feature["id"] == visible and "merged_from" not in feature["properties"]
    assert hidden not in json.dumps(mine)
    whole = export(client, place)
    assert whole["features"][0]["properties"]["merged_from"] == sorted([visible, hidden])
    assert whole["banner"] == "TOP SECRET//NOFORN"  # a classified part without REL TO rolls up to NOFORN


def test_parts_on_different_images_are_not_merged(
    client: TestClient, test_db: TestDatabase, place: dict[str, Any], tmp_path: Path, data_dir: Path
) -> None:
    from tests.rasters import utm_uint16

    scene = place["scene"]
    second = ingest(
        test_db,
        place["project"],
        utm_uint16(tmp_path / "again.tif", seed=7),
        data_dir,
        "UNCLASSIFIED",
        overlap=OVERLAP,
    )
    other = client.get(f"/api/v1/chips?image={second}&limit=1", headers=place["analyst"]).json()["items"][0]
    draw(client, place, (0, 0), scene.box(200, 40, 240, 80))
    response = client.post(
        "/api/v1/annotations",
        headers=place["analyst"],
        json={"chip_id": other["id"], "class": "vehicle", "geometry": scene.box(200, 40, 240, 80)},
    )
    assert response.status_code == 201, response.text
    assert export(client, place)["feature_count"] == 2
    assert uuid.UUID(str(second))


def test_ogc_items_merge_when_asked(client: TestClient, place: dict[str, Any]) -> None:
    scene = place["scene"]
    left = draw(client, place, (0, 0), scene.box(200, 40, 240, 80))
    right = draw(client, place, (0, 192), scene.box(201, 41, 241, 81), marking="SECRET//REL TO USA, GBR")
    draw(client, place, (0, 0), scene.box(20, 20, 40, 40))
    items = f"/ogc/collections/{place['project']}/items"
    plain = client.get(items, headers=place["analyst"]).json()
    assert plain["numberMatched"] == 3
    merged = client.get(f"{items}?merged=true", headers=place["analyst"]).json()
    assert merged["numberMatched"] == 2 and merged["numberReturned"] == 2
    whole = next(f for f in merged["features"] if f["id"] == min(left, right))
    assert whole["properties"]["merged_from"] == sorted([left, right])
    assert whole["properties"]["marking"] == "(S//REL TO USA, GBR)"
    assert merged["marking"] == "SECRET//REL TO USA, GBR"
    reader = client.get(f"{items}?merged=true", headers=place["reader"]).json()
    assert reader["numberMatched"] == 2 and all(
        "merged_from" not in f["properties"] for f in reader["features"]
    )
    wrong = client.get(f"{items}?merged=perhaps", headers=place["analyst"])
    assert wrong.status_code == 400 and "merged" in wrong.text


def test_the_managers_counts_are_objects(
    client: TestClient, test_db: TestDatabase, place: dict[str, Any]
) -> None:
    scene = place["scene"]
    manager = make_user(test_db, unique("mgr"), "TS", "USA")
    add_member(test_db, place["project"], manager, "manager")
    draw(client, place, (0, 0), scene.box(200, 40, 240, 80))
    draw(client, place, (0, 192), scene.box(201, 41, 241, 81))
    draw(client, place, (0, 0), scene.box(20, 20, 40, 40))
    draw(client, place, (0, 0), scene.box(60, 20, 80, 40), **{"class": "building"})
    progress = client.get(f"/api/v1/projects/{place['project']}/progress", headers=token(client, manager))
    assert progress.status_code == 200, progress.text
    assert progress.json()["labels"] == {
        "features": 4,
        "objects": 3,
        "by_class": {"building": {"features": 1, "objects": 1}, "vehicle": {"features": 3, "objects": 2}},
    }


def test_merging_loses_and_repeats_nothing(client: TestClient, place: dict[str, Any]) -> None:
    """Boxes drawn at random over every chip, overlaps included: each drawn feature is in the merged export
    exactly once, alone or among a merged feature's parts (the held-back lines of geo_label.export.held)."""
    rng = random.Random(7)
    scene = place["scene"]
    drawn = set()
    for _ in range(60):
        chip = rng.choice(place["chips"])
        side = rng.uniform(8, 40)
        col = chip["col_off"] + rng.uniform(0, chip["width"] - side)
        row = chip["row_off"] + rng.uniform(0, chip["height"] - side)
        cls = rng.choice(["vehicle", "building"])
        geometry = scene.box(col, row, col + side, row + side)
        drawn.add(draw(client, place, (chip["row_off"], chip["col_off"]), geometry, **{"class": cls}))
    pairs = []
    neighbours = [chip for chip in place["chips"] if (chip["row_off"], chip["col_off"] + 192) in scene.chips]
    for _ in range(12):  # the same box on two chips side by side, inside their overlap
        left = rng.choice(neighbours)
        side = rng.uniform(8, 30)
        col = left["col_off"] + 192 + rng.uniform(0, OVERLAP - side)
        row = left["row_off"] + rng.uniform(0, left["height"] - side)
        geometry = scene.box(col, row, col + side, row + side)
        pair = [
            draw(client, place, (left["row_off"], offset), geometry)
            for offset in (left["col_off"], left["col_off"] + 192)
        ]
        drawn.update(pair)
        pairs.append(pair)
    plain = export(client, place, query="?merge=false")
    assert {feature["id"] for feature in plain["features"]} == drawn
    parts: list[str] = []
    merged = export(client, place)["features"]
    for feature in merged:
        parts.extend(feature["properties"].get("merged_from", [feature["id"]]))
    assert sorted(parts) == sorted(drawn)
    groups = [
        set(feature["properties"]["merged_from"])
        for feature in merged
        if "merged_from" in feature["properties"]
    ]
    assert all(any(set(pair) <= group for group in groups) for pair in pairs)
