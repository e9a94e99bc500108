"""A page of annotations (built from plain rows) says exactly what the single annotation says."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping, shape

from tests.pg import TestDatabase
from tests.service.chip_place import chip_place
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


def test_pages_count_up_to_a_cap_unless_asked(
    client: TestClient,
    test_db: TestDatabase,
    utm_image: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 21: every page counted every match. Past the cap ``total`` is null and ``total_at_least`` says
    how many at least; ``count=true`` counts them all."""
    from api.routes import annotations as routes

    monkeypatch.setattr(routes, "COUNT_CAP", 2)
    place = chip_place(client, test_db, utm_image, data_dir, ("U",), prefix="cap")
    project, headers = place.project, place.headers[0]
    for k in range(4):
        place.draw(k + 1)
    url = f"/api/v1/annotations?project={project}&limit=1"
    capped = client.get(url, headers=headers).json()
    assert capped["total"] is None and capped["total_at_least"] == 3 and len(capped["items"]) == 1
    exact = client.get(f"{url}&count=true", headers=headers).json()
    assert exact["total"] == 4 and "total_at_least" not in exact
    small = client.get(f"/api/v1/annotations?project={project}&limit=10", headers=headers).json()
    assert small["total"] == 4  # a page holding every match counts them without a second query


def test_cursors_walk_every_annotation_once_and_only_for_their_caller(
    client: TestClient, test_db: TestDatabase, utm_image: Path, data_dir: Path
) -> None:
    """Issue 21: pages after the first start at a keyset cursor (next_cursor), which is bound to the caller
    and the filter it was issued for."""
    place = chip_place(client, test_db, utm_image, data_dir, ("U", "U"), prefix="walk")
    project, headers = place.project, place.headers[0]
    created = [place.draw(k + 1)["id"] for k in range(7)]

    url = f"/api/v1/annotations?project={project}&limit=3"
    seen, cursor, pages = [], None, 0
    while True:
        page = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=headers).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == created and pages == 3  # oldest first, each once
    first = client.get(url, headers=headers).json()
    after = client.get(url + f"&cursor={first['next_cursor']}", headers=headers).json()
    counted = client.get(url + f"&cursor={first['next_cursor']}&count=true", headers=headers).json()
    assert first["total"] == 7 and after["total"] is None and "total_at_least" not in after
    assert counted["total"] == 7  # a page a cursor leads to counts only when asked

    first = client.get(url, headers=headers).json()
    cursor = first["next_cursor"]
    others = client.get(url + f"&cursor={cursor}", headers=place.headers[1])
    other_filter = client.get(url + f"&cursor={cursor}&class=vehicle", headers=headers)
    both = client.get(url + f"&cursor={cursor}&offset=3", headers=headers)
    forged = client.get(url + f"&cursor={cursor[:-3]}xyz", headers=headers)
    assert [r.status_code for r in (others, other_filter, both, forged)] == [422] * 4
    assert "cursor" in others.json()["detail"]
