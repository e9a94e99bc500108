"""Shared helpers of the access test suite (MARKINGS.md section 8); this module holds no tests itself.

A "mixed world" is one UNCLASSIFIED project holding images, chips and annotations of several markings, and
users of different clearances and citizenships who are all members of it, plus one who is not. The
expected visibility is written out by hand (an oracle independent of ``access_control``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from shapely.geometry import box, mapping, shape

from tests import pg
from tests.rasters import utm_uint16
from tests.service.conftest import token
from tests.world import add_member, ingest, make_project, make_user, unique

NO_STORE = "private, no-store"
U = "UNCLASSIFIED"
C = "CONFIDENTIAL"
S_REL = "SECRET//REL TO USA, GBR"
S_NF = "SECRET//NOFORN"
TS_SI = "TOP SECRET//SI"
MARKINGS = (U, C, S_REL, S_NF, TS_SI)

#: Who may read what (MARKINGS.md section 3), written out by hand: the oracle of the listing tests.
VISIBLE: dict[str, frozenset[str]] = {
    "ts_usa": frozenset(MARKINGS),
    "s_usa": frozenset({U, C, S_REL, S_NF}),
    "s_gbr": frozenset({U, S_REL}),  # C has no REL TO: not releasable; NOFORN never
    "c_usa": frozenset({U, C}),
    "u_usa": frozenset({U}),
    "ts_fra": frozenset({U}),  # REL TO USA, GBR does not name FRA; TS//SI has no REL at all
    "outsider": frozenset(),  # cleared for everything, but not a member: no need-to-know
}
CLEARANCES: dict[str, tuple[str, str]] = {
    "ts_usa": ("TS//SI/TK", "USA"),
    "s_usa": ("S", "USA"),
    "s_gbr": ("S", "GBR"),
    "c_usa": ("C", "USA"),
    "u_usa": ("U", "USA"),
    "ts_fra": ("TS//SI", "FRA"),
    "outsider": ("TS//SI/TK", "USA"),
}
#: Annotations drawn on the UNCLASSIFIED image's chips, raised to each marking (count per marking).
RAISED = {U: 3, C: 2, S_REL: 3, S_NF: 2, TS_SI: 2}

_TOKENS: dict[str, dict[str, str]] = {}


def headers(client: TestClient, username: str) -> dict[str, str]:
    """A bearer header for ``username``, signed in once per test session (PBKDF2 is slow on purpose)."""
    if username not in _TOKENS:
        _TOKENS[username] = token(client, username)
    return _TOKENS[username]


def officer_pair(db: pg.TestDatabase) -> tuple[str, str]:
    """Two security officers cleared for everything: widening access takes both (two-person rule)."""
    roles = frozenset({"admin", "security_officer"})
    return tuple(  # type: ignore[return-value]
        make_user(db, unique(name), "TS//SI/TK", cui_ok=True, roles=roles) for name in ("so-a", "so-b")
    )


def set_clearance(client: TestClient, officers: tuple[str, str], user: str, **body: Any) -> None:
    """Set ``user``'s clearance through the API: the first officer asks, the second approves a widening."""
    first, second = officers
    response = client.put(f"/api/v1/users/{user}/clearance", headers=headers(client, first), json=body)
    if response.status_code == 202:
        grant = response.json()["pending_grant"]
        response = client.post(f"/api/v1/users/grants/{grant}/approve", headers=headers(client, second))
    assert response.status_code == 200, response.text


def forget_token(username: str) -> None:
    _TOKENS.pop(username, None)


def small_image(directory: Path, seed: int) -> Path:
    """A 512 x 256 uint16 scene (two 256-pixel chips), distinct per seed, at the same place as the others."""
    path = directory / f"scene-{seed}.tif"
    if not path.exists():
        utm_uint16(path, width=512, height=256, seed=seed)
    return path


def inner_geometry(chip_geometry: dict[str, Any], index: int, kind: str) -> dict[str, Any]:
    """A point or a small square well inside a chip, different for each ``index``."""
    west, south, east, north = shape(chip_geometry).bounds
    fx = 0.1 + 0.08 * (index % 10)
    fy = 0.1 + 0.08 * ((index // 10) % 10)
    x, y = west + (east - west) * fx, south + (north - south) * fy
    if kind == "vehicle":
        return {"type": "Point", "coordinates": [x, y]}
    dx, dy = (east - west) * 0.03, (north - south) * 0.03
    return dict(mapping(box(x, y, x + dx, y + dy)))


def create_annotation(
    client: TestClient,
    auth: dict[str, str],
    chip: dict[str, Any],
    *,
    index: int = 0,
    label_class: str = "vehicle",
    marking: str | None = None,
    status: str = "draft",
    attributes: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "chip_id": str(chip["id"]),
        "class": label_class,
        "geometry": inner_geometry(chip["geometry"], index, label_class),
        "status": status,
        "attributes": attributes or {},
    }
    if marking is not None:
        body["marking"] = marking
    return client.post("/api/v1/annotations", headers=auth, json=body)


def all_pages(client: TestClient, url: str, auth: dict[str, str], limit: int) -> tuple[list[Any], int]:
    """Every item of a paged listing, walking limit/offset; checks every page reports the same total."""
    sep = "&" if "?" in url else "?"
    items: list[Any] = []
    totals = set()
    offset = 0
    while True:
        response = client.get(f"{url}{sep}limit={limit}&offset={offset}", headers=auth)
        assert response.status_code == 200, response.text
        page = response.json()
        totals.add(page["total"])
        assert len(page["items"]) <= limit
        items += page["items"]
        if len(page["items"]) < limit:
            break
        offset += limit
    assert len(totals) == 1, f"the total changed while paging: {totals}"
    return items, totals.pop()


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [str(item["id"]) for item in items]


def assert_same_answer(hidden: Response, missing: Response) -> None:
    """A hidden item and a missing one must be indistinguishable: status, headers and body bytes."""
    assert hidden.status_code == missing.status_code, (hidden.status_code, missing.status_code)
    assert hidden.content == missing.content, (hidden.content, missing.content)
    assert dict(hidden.headers) == dict(missing.headers)


def q(text: str) -> str:
    return quote(text, safe="")


@contextmanager
def owner_connection(test_db: pg.TestDatabase) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """The schema owner (in the tests, a superuser): reads the whole audit trail."""
    with psycopg.connect(pg.libpq(test_db.owner_url), autocommit=True) as connection:
        yield connection


def audit_rows(test_db: pg.TestDatabase, action: str, **where: str) -> list[dict[str, Any]]:
    clauses = ["action = %(action)s"]
    params: dict[str, Any] = {"action": action}
    for name, value in where.items():
        clauses.append(f"{name} = %({name})s")
        params[name] = value
    with owner_connection(test_db) as connection:
        cursor = connection.cursor(row_factory=psycopg.rows.dict_row)
        cursor.execute(f"SELECT * FROM audit_log WHERE {' AND '.join(clauses)} ORDER BY id", params)
        return list(cursor.fetchall())


@dataclass
class MixedWorld:
    """One UNCLASSIFIED project with content of every marking in ``MARKINGS`` (dicts keyed by those)."""

    project: str
    users: dict[str, str]
    images: dict[str, str]
    image_markings: dict[str, str]
    chips: dict[str, list[dict[str, Any]]]
    annotations: dict[str, list[str]] = field(default_factory=dict)
    annotation_class: dict[str, str] = field(default_factory=dict)
    annotation_status: dict[str, str] = field(default_factory=dict)
    annotation_geometry: dict[str, dict[str, Any]] = field(default_factory=dict)

    def visible_annotations(self, role: str) -> set[str]:
        return {a for m in VISIBLE[role] for a in self.annotations.get(m, [])}

    def visible_chips(self, role: str) -> set[str]:
        return {str(c["id"]) for m in VISIBLE[role] for c in self.chips[m]}

    def visible_images(self, role: str) -> set[str]:
        return {self.images[m] for m in VISIBLE[role]}


_WORLDS: dict[int, MixedWorld] = {}


def mixed_world(
    client: TestClient, test_db: pg.TestDatabase, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> MixedWorld:
    """The mixed world, built once per test database and shared by the modules that only read it (or only
    try writes that must be refused)."""
    key = id(test_db)
    if key not in _WORLDS:
        scenes = tmp_path_factory.mktemp("scenes")
        _WORLDS[key] = build_mixed_world(client, test_db, data_dir, scenes, seed_base=100)
    return _WORLDS[key]


def build_mixed_world(
    client: TestClient, test_db: pg.TestDatabase, data_dir: Path, scenes: Path, seed_base: int
) -> MixedWorld:
    project = make_project(test_db, U)
    users = {}
    for role, (clearance, citizenship) in CLEARANCES.items():
        users[role] = make_user(test_db, unique(role.replace("_", "")), clearance, citizenship)
        if role != "outsider":
            add_member(test_db, project, users[role], "manager" if role == "ts_usa" else "labeler")
    images: dict[str, str] = {}
    for offset, marking in enumerate(MARKINGS):
        image = ingest(test_db, project, small_image(scenes, seed_base + offset), data_dir, marking)
        images[marking] = str(image)
    author = headers(client, users["ts_usa"])
    chips: dict[str, list[dict[str, Any]]] = {}
    for marking, image in images.items():
        listed = client.get(f"/api/v1/chips?image={image}", headers=author).json()
        assert listed["total"] == 2, listed
        chips[marking] = listed["items"]
    image_markings = {m: chips[m][0]["marking"] for m in MARKINGS}
    world = MixedWorld(
        project=str(project), users=users, images=images, image_markings=image_markings, chips=chips
    )
    # Annotations raised above the UNCLASSIFIED chips' floor, and one on each classified chip, which takes the
    # chip's marking by default (the floor; ingest marks a classified image with no REL TO as NOFORN
    # explicitly, the roll-up rule: CONFIDENTIAL//NOFORN).
    plan: list[tuple[str, str | None, dict[str, Any]]] = [
        (m, m, chips[U][i % 2]) for m, n in RAISED.items() for i in range(n)
    ]
    plan += [(m, None, chips[m][0]) for m in MARKINGS if m != U]
    for index, (key, marking, chip) in enumerate(plan):
        label_class = "vehicle" if index % 2 == 0 else "building"
        status = "submitted" if index % 3 == 0 else "draft"
        response = create_annotation(
            client, author, chip, index=index, label_class=label_class, marking=marking, status=status
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["marking"] == (marking or chip["marking"])
        world.annotations.setdefault(key, []).append(str(body["id"]))
        world.annotation_class[str(body["id"])] = label_class
        world.annotation_status[str(body["id"])] = status
        world.annotation_geometry[str(body["id"])] = body["geometry"]
    return world
