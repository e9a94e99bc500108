"""MARKINGS.md section 8: counts and pagination totals equal the visible rows; search, filters and extents
exclude hidden rows. Real HTTP through the app, a real PostGIS underneath, markings mixed in one project."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape

from tests import pg
from tests.service.test_svc_access_support import (
    MARKINGS,
    S_NF,
    S_REL,
    TS_SI,
    VISIBLE,
    C,
    MixedWorld,
    U,
    all_pages,
    headers,
    ids,
    mixed_world,
    officer_pair,
    q,
    set_clearance,
)
from tests.world import add_member, make_project, make_user, unique

ROLES = tuple(VISIBLE)
LEVEL = {U: 0, C: 1, S_REL: 2, S_NF: 2, TS_SI: 3}


@pytest.fixture(scope="module")
def world(
    client: TestClient, test_db: pg.TestDatabase, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MixedWorld]:
    yield mixed_world(client, test_db, data_dir, tmp_path_factory)


@pytest.mark.parametrize("role", ROLES)
def test_annotation_totals_and_pages_equal_the_visible_rows(
    client: TestClient, world: MixedWorld, role: str
) -> None:
    auth = headers(client, world.users[role])
    expected = world.visible_annotations(role)
    for limit in (1, 4, 1000):
        items, total = all_pages(client, f"/api/v1/annotations?project={world.project}", auth, limit)
        assert total == len(expected)
        assert len(ids(items)) == len(set(ids(items))), "a row was visited twice"
        assert set(ids(items)) == expected
    # Without the project filter the caller's whole visible set (these users are members of this one only).
    _, total = all_pages(client, "/api/v1/annotations", auth, 1000)
    assert total == len(expected)
    # A page beyond the end is empty but still counts exactly the visible rows.
    beyond = client.get(f"/api/v1/annotations?project={world.project}&offset=500", headers=auth).json()
    assert beyond["items"] == [] and beyond["total"] == len(expected)


@pytest.mark.parametrize("role", ROLES)
def test_chip_and_image_totals_and_pages_equal_the_visible_rows(
    client: TestClient, world: MixedWorld, role: str
) -> None:
    auth = headers(client, world.users[role])
    for limit in (1, 3):
        chips, total = all_pages(client, f"/api/v1/chips?project={world.project}", auth, limit)
        assert total == len(world.visible_chips(role)) == 2 * len(VISIBLE[role])
        assert sorted(ids(chips)) == sorted(world.visible_chips(role))
        images, total = all_pages(client, f"/api/v1/images?project={world.project}", auth, limit)
        assert total == len(VISIBLE[role])
        assert sorted(ids(images)) == sorted(world.visible_images(role))
        assert {i["marking"] for i in images} == {world.image_markings[m] for m in VISIBLE[role]}


def test_project_totals_follow_membership_and_the_current_clearance(
    client: TestClient, test_db: pg.TestDatabase
) -> None:
    officers = officer_pair(test_db)
    member = make_user(test_db, unique("multi"), "TS//SI/TK", "USA", cui_ok=True)
    fouo = "UNCLASSIFIED//FOUO"
    projects = {m: str(make_project(test_db, m)) for m in (*MARKINGS, fouo)}
    for project in projects.values():
        add_member(test_db, project, member)
    make_project(test_db, U)  # not a member: no need-to-know, never listed or counted
    auth = headers(client, member)

    def listed(limit: int) -> set[str]:
        items, total = all_pages(client, "/api/v1/projects", auth, limit)
        assert total == len(items) == len(set(ids(items)))
        return set(ids(items))

    def clear(clearance: str, citizenship: str, cui_ok: bool) -> None:
        set_clearance(client, officers, member, clearance=clearance, citizenship=citizenship, cui_ok=cui_ok)

    assert listed(1) == listed(4) == set(projects.values())
    clear("S", "USA", False)  # FOUO needs cui_ok; TS is above S
    assert listed(1) == listed(3) == {projects[m] for m in (U, C, S_REL, S_NF)}
    clear("TS//SI", "GBR", True)  # foreign: only U (FOUO included) and what is REL TO GBR
    assert listed(2) == {projects[m] for m in (U, S_REL, fouo)}
    clear("U", "USA", False)
    assert listed(1) == {projects[U]}


def test_admin_lists_every_project_cleared_for_and_nothing_above(
    client: TestClient, test_db: pg.TestDatabase
) -> None:
    admin = make_user(test_db, unique("adm"), "S", "USA", roles=frozenset({"admin", "security_officer"}))
    above = {str(make_project(test_db, m)) for m in (TS_SI, "TOP SECRET//SI/TK//NOFORN")}
    cleared = {str(make_project(test_db, m)) for m in (U, S_REL, S_NF)}
    items, total = all_pages(client, "/api/v1/projects", headers(client, admin), 7)
    assert total == len(items) == len(set(ids(items)))
    assert cleared <= set(ids(items)) and not above & set(ids(items))
    assert all(not p["marking"].startswith("TOP SECRET") for p in items)


@pytest.mark.parametrize("role", ["s_gbr", "c_usa", "u_usa", "ts_usa"])
def test_annotation_filters_exclude_hidden_rows(client: TestClient, world: MixedWorld, role: str) -> None:
    auth = headers(client, world.users[role])
    visible = world.visible_annotations(role)
    base = f"/api/v1/annotations?project={world.project}&limit=1000"

    def found(query: str) -> tuple[set[str], int]:
        response = client.get(f"{base}&{query}", headers=auth)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == len(body["items"])
        return set(ids(body["items"])), body["total"]

    for label_class in ("vehicle", "building"):
        got, _ = found(f"class={label_class}")
        assert got == {a for a in visible if world.annotation_class[a] == label_class}
    for status in ("draft", "submitted"):
        got, _ = found(f"status={status}")
        assert got == {a for a in visible if world.annotation_status[a] == status}
    for level, rank in (("U", 0), ("C", 1), ("S", 2), ("TS", 3)):
        got, _ = found(f"max_classification={level}")
        assert got == {a for m in VISIBLE[role] if LEVEL[m] <= rank for a in world.annotations[m]}
    got, _ = found("class=vehicle&status=submitted&max_classification=TS")
    assert got == {
        a
        for a in visible
        if world.annotation_class[a] == "vehicle" and world.annotation_status[a] == "submitted"
    }
    # A box around everything: exactly the visible set. A box around each annotation: it alone (or nothing).
    everything = ",".join(str(v) for v in _bounds(world))
    got, _ = found(f"bbox={q(everything)}")
    assert got == visible
    for marking in MARKINGS:
        for annotation in world.annotations[marking]:
            west, south, east, north = shape(world.annotation_geometry[annotation]).buffer(1e-7).bounds
            got, total = found(f"bbox={q(f'{west},{south},{east},{north}')}")
            assert annotation in got if marking in VISIBLE[role] else annotation not in got
            assert got <= visible and total == len(got)


@pytest.mark.parametrize("role", ["s_gbr", "u_usa", "ts_usa", "outsider"])
def test_chip_bbox_and_status_filters_exclude_hidden_rows(
    client: TestClient, world: MixedWorld, role: str
) -> None:
    auth = headers(client, world.users[role])
    # Every image lies at the same place: the first chip of each covers the same ground.
    west, south, east, north = shape(world.chips[U][0]["geometry"]).bounds
    inner = f"{west + (east - west) * 0.4},{south + (north - south) * 0.4},"
    inner += f"{west + (east - west) * 0.6},{south + (north - south) * 0.6}"
    response = client.get(f"/api/v1/chips?project={world.project}&bbox={q(inner)}", headers=auth)
    body = response.json()
    assert body["total"] == len(body["items"]) == len(VISIBLE[role])
    assert set(ids(body["items"])) == {str(world.chips[m][0]["id"]) for m in VISIBLE[role]}
    everything = ",".join(str(v) for v in _bounds(world))
    for extra in (f"&bbox={q(everything)}", "&status=open", f"&bbox={q(everything)}&status=open"):
        body = client.get(f"/api/v1/chips?project={world.project}{extra}&limit=1000", headers=auth).json()
        assert set(ids(body["items"])) == world.visible_chips(role)
        assert body["total"] == len(world.visible_chips(role))
    closed = client.get(f"/api/v1/chips?project={world.project}&status=done", headers=auth).json()
    assert closed["total"] == 0 and closed["items"] == []


def test_hidden_content_does_not_widen_visible_extents(client: TestClient, world: MixedWorld) -> None:
    """The footprints a reader gets (images, chips) are only those of rows they may read."""
    auth = headers(client, world.users["u_usa"])
    images = client.get(f"/api/v1/images?project={world.project}", headers=auth).json()
    assert [i["id"] for i in images["items"]] == [world.images[U]]
    chips = client.get(f"/api/v1/chips?project={world.project}", headers=auth).json()
    assert {c["marking"] for c in chips["items"]} == {U} and chips["total"] == 2


def _bounds(world: MixedWorld) -> tuple[float, float, float, float]:
    shapes = [shape(c["geometry"]) for chips in world.chips.values() for c in chips]
    west = min(s.bounds[0] for s in shapes)
    south = min(s.bounds[1] for s in shapes)
    east = max(s.bounds[2] for s in shapes)
    north = max(s.bounds[3] for s in shapes)
    return west - 0.01, south - 0.01, east + 0.01, north + 0.01
