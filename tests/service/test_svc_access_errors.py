"""MARKINGS.md section 8: every /api/v1 answer, success or error, carries Cache-Control: private, no-store; no
database error text ever reaches a client (bodies are only {"code", "detail"}, with nothing from SQL,
psycopg or a traceback)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from geo_label.projects import LabelClass
from tests import pg
from tests.service.test_svc_access_support import create_annotation, headers, small_image
from tests.world import PASSWORD, add_member, ingest, make_project, make_user, unique

NO_STORE = "private, no-store"
#: What a value the database cannot store gets: a 422 the client can act on, not "try again" (a retry would
#: fail the same way), and the same words whatever the value, so nothing of the database shows through.
DATA_ERROR = {
    "code": "invalid",
    "detail": "the request holds a value that cannot be stored (a NUL character or a number too large)",
}
#: Words that would betray database or internal detail in an error body (compared case-insensitively).
LEAKS = (
    "sql",
    "psycopg",
    "traceback",
    "select ",
    "insert ",
    "update ",
    "delete from",
    "jsonb",
    "unicode",
    "\\u0000",
    "bigint",
    "out of range",
    "violates",
    "constraint",
    "relation",
    "row-level",
    "policy",
    "geo_label_",
    "error:",
    "detail:",
    "hint:",
    "line ",
    'file "',
    ".py",
)


@dataclass
class Place:
    project: str
    chip: dict[str, Any]
    labeler: str
    officer: str
    reader: str


@pytest.fixture(scope="module")
def place(
    client: TestClient, test_db: pg.TestDatabase, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Place:
    classes = [
        LabelClass(
            "site",
            ("Point", "Polygon"),
            ({"name": "note", "type": "string"}, {"name": "count", "type": "integer"}),
        )
    ]
    project = make_project(test_db, "UNCLASSIFIED", classes=classes)
    labeler = make_user(test_db, unique("lab"), "S", "USA")
    officer = make_user(test_db, unique("so"), "TS//SI", roles=frozenset({"admin", "security_officer"}))
    reader = make_user(test_db, unique("rdr"), "U", "USA")
    add_member(test_db, project, labeler)
    add_member(test_db, project, officer, "manager")
    image = ingest(test_db, project, small_image(tmp_path_factory.mktemp("scenes"), 400), data_dir, "S")
    chip = client.get(f"/api/v1/chips?image={image}", headers=headers(client, labeler)).json()["items"][0]
    return Place(str(project), chip, labeler, officer, reader)


def assert_clean_error(response: Response) -> None:
    body = response.json()
    assert set(body) == {"code", "detail"}, body
    assert isinstance(body["code"], str) and isinstance(body["detail"], str)
    text = response.text.lower()
    for word in LEAKS:
        assert word not in text, (word, response.text)


def sweep(client: TestClient, place: Place) -> list[tuple[str, Response]]:
    """One request of (nearly) every kind, successes and every error status the API gives."""
    lab = headers(client, place.labeler)
    so = headers(client, place.officer)
    rdr = headers(client, place.reader)
    chip = place.chip
    created = create_annotation(client, lab, chip, label_class="site", index=3)
    ident = created.json()["id"]
    doomed = create_annotation(client, lab, chip, label_class="site", index=4).json()["id"]
    gone = str(uuid.uuid4())

    def site(**extra: Any) -> Response:
        return create_annotation(client, lab, chip, label_class="site", **extra)

    calls: list[tuple[str, Callable[[], Response]]] = [
        ("login ok", lambda: client.post("/api/v1/auth/token", data=_form(place.reader, PASSWORD))),
        ("login failure 401", lambda: client.post("/api/v1/auth/token", data=_form("nobody-" + gone, "x"))),
        ("login form 422", lambda: client.post("/api/v1/auth/token", data={"username": "x"})),
        ("no token 401", lambda: client.get("/api/v1/me")),
        ("bad token 401", lambda: client.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"})),
        ("me", lambda: client.get("/api/v1/me", headers=lab)),
        ("projects", lambda: client.get("/api/v1/projects", headers=lab)),
        ("project", lambda: client.get(f"/api/v1/projects/{place.project}", headers=lab)),
        ("members", lambda: client.get(f"/api/v1/projects/{place.project}/members", headers=lab)),
        ("images", lambda: client.get(f"/api/v1/images?project={place.project}", headers=lab)),
        ("image", lambda: client.get(f"/api/v1/images/{chip['image_id']}", headers=lab)),
        ("chips", lambda: client.get(f"/api/v1/chips?project={place.project}", headers=lab)),
        ("chip", lambda: client.get(f"/api/v1/chips/{chip['id']}", headers=lab)),
        ("preview", lambda: client.get(f"/api/v1/chips/{chip['id']}/preview", headers=lab)),
        ("annotations", lambda: client.get(f"/api/v1/annotations?project={place.project}", headers=lab)),
        ("annotation", lambda: client.get(f"/api/v1/annotations/{ident}", headers=lab)),
        ("history", lambda: client.get(f"/api/v1/annotations/{ident}/history", headers=lab)),
        ("create 201", lambda: create_annotation(client, lab, chip, label_class="site", index=5)),
        ("delete 204", lambda: client.delete(f"/api/v1/annotations/{doomed}", headers=_v(lab, 1))),
        ("member 204", lambda: _put_member(client, so, place, place.labeler)),
        ("audit", lambda: client.get("/api/v1/audit?limit=5", headers=so)),
        ("audit verify", lambda: client.get("/api/v1/audit/verify", headers=so)),
        ("users", lambda: client.get("/api/v1/users", headers=so)),
        ("users 403", lambda: client.get("/api/v1/users", headers=rdr)),
        ("audit 403", lambda: client.get("/api/v1/audit", headers=lab)),
        ("hidden 404", lambda: client.get(f"/api/v1/annotations/{ident}", headers=rdr)),
        ("missing 404", lambda: client.get(f"/api/v1/annotations/{gone}", headers=lab)),
        ("preview 404", lambda: client.get(f"/api/v1/chips/{gone}/preview", headers=lab)),
        ("route 404", lambda: client.get("/api/v1/no-such-thing", headers=lab)),
        ("method 405", lambda: client.delete("/api/v1/projects", headers=lab)),
        ("conflict 409", lambda: _duplicate_project(client, so)),
        ("stale 412", lambda: client.patch(f"/api/v1/annotations/{ident}", headers=_v(lab, 9), json={})),
        ("no if-match 428", lambda: client.patch(f"/api/v1/annotations/{ident}", headers=lab, json={})),
        ("uuid 422", lambda: client.get("/api/v1/annotations/not-a-uuid", headers=lab)),
        ("limit 422", lambda: client.get("/api/v1/chips?limit=0", headers=lab)),
        ("bbox 422", lambda: client.get("/api/v1/chips?bbox=1,2,3", headers=lab)),
        ("marking 422", lambda: site(marking="SECRET//NF//REL TO USA, GBR")),
        ("write-up 422", lambda: site(marking="TOP SECRET")),
        ("nul 422", lambda: site(attributes={"note": "\x00"})),
        ("offset 422", lambda: client.get(f"/api/v1/chips?offset={10**20}", headers=lab)),
    ]  # fmt: skip
    return [(name, call()) for name, call in calls]


def _form(username: str, password: str) -> dict[str, str]:
    return {"username": username, "password": password}


def _v(auth: dict[str, str], version: int) -> dict[str, str]:
    return {**auth, "If-Match": f'"{version}"'}


def _put_member(client: TestClient, auth: dict[str, str], place: Place, username: str) -> Response:
    body = {"username": username, "role": "labeler"}
    return client.put(f"/api/v1/projects/{place.project}/members", headers=auth, json=body)


def _duplicate_project(client: TestClient, auth: dict[str, str]) -> Response:
    body = {"name": unique("dup"), "marking": "UNCLASSIFIED", "classes": [{"name": "x"}]}
    first = client.post("/api/v1/projects", headers=auth, json=body)
    assert first.status_code == 201, first.text
    return client.post("/api/v1/projects", headers=auth, json=body)


def test_every_api_answer_is_private_and_never_stored(client: TestClient, place: Place) -> None:
    answers = sweep(client, place)
    statuses = {name: response.status_code for name, response in answers}
    for name, response in answers:
        expected = name.rsplit(" ", 1)[-1]
        if expected.isdigit():
            assert response.status_code == int(expected), (name, response.status_code, response.text)
        else:
            assert response.status_code == 200, (name, response.status_code, response.text)
        assert response.headers.get("cache-control") == NO_STORE, (name, dict(response.headers))
    assert {401, 403, 404, 405, 409, 412, 422, 428} <= set(statuses.values())


def test_no_error_body_carries_database_or_internal_detail(client: TestClient, place: Place) -> None:
    for name, response in sweep(client, place):
        if response.status_code >= 400:
            assert_clean_error(response)
            assert response.headers["content-type"] == "application/json", name


@pytest.mark.parametrize(
    ("what", "value"),
    [
        ("NUL in a string attribute (jsonb refuses it)", {"note": "before\x00after"}),
        ("NUL escaped deep in a string", {"note": "x" * 1000 + "\x00"}),
    ],
)
def test_a_value_the_database_refuses_gives_a_clear_422_on_create_and_patch(
    client: TestClient, place: Place, what: str, value: dict[str, Any]
) -> None:
    lab = headers(client, place.labeler)
    created = create_annotation(client, lab, place.chip, label_class="site", attributes=value)
    assert created.status_code == 422, (what, created.text)
    assert created.json() == DATA_ERROR
    assert created.headers["cache-control"] == NO_STORE
    fine = create_annotation(client, lab, place.chip, label_class="site", index=9)
    ident = fine.json()["id"]
    patched = client.patch(f"/api/v1/annotations/{ident}", headers=_v(lab, 1), json={"attributes": value})
    assert patched.status_code == 422 and patched.json() == DATA_ERROR
    # Nothing was half-written: the annotation is as it was, and the request after works.
    current = client.get(f"/api/v1/annotations/{ident}", headers=lab).json()
    assert current["version"] == 1 and current["attributes"] == {}


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/chips?offset={big}",
        "/api/v1/images?offset={big}",
        "/api/v1/projects?offset={big}",
        "/api/v1/annotations?offset={big}",
        "/api/v1/annotations?class=a%00b",
        "/api/v1/annotations?status=%00",
    ],
)
def test_unstorable_values_in_reads_give_a_clear_422(client: TestClient, place: Place, url: str) -> None:
    response = client.get(url.format(big=10**20), headers=headers(client, place.labeler))
    assert response.status_code == 422 and response.json() == DATA_ERROR
    assert response.headers["cache-control"] == NO_STORE


def test_database_errors_in_sign_in_and_administration_give_the_generic_answer(
    client: TestClient, place: Place
) -> None:
    so = headers(client, place.officer)
    mine = create_annotation(client, so, place.chip, label_class="site", index=21).json()["id"]
    answers = [
        client.post("/api/v1/auth/token", data=_form("evil\x00name", "x")),
        client.post(
            "/api/v1/projects",
            headers=so,
            json={"name": "nul\x00name", "marking": "UNCLASSIFIED", "classes": [{"name": "x"}]},
        ),
        client.put(
            "/api/v1/users/a%00b/clearance", headers=so, json={"clearance": "U", "citizenship": "USA"}
        ),
        client.patch(f"/api/v1/annotations/{mine}", headers=_v(so, 10**30), json={}),
    ]
    for response in answers:
        assert response.status_code in (401, 422, 503), response.text
        assert_clean_error(response)
        assert response.headers["cache-control"] == NO_STORE


def test_an_integer_attribute_beyond_64_bits_is_refused_clearly(client: TestClient, place: Place) -> None:
    """Regression: such a value used to be inserted, then fail the response (orjson) with a 500."""
    lab = headers(client, place.labeler)
    for value in (2**63, -(2**63) - 1, 10**30):
        response = create_annotation(client, lab, place.chip, label_class="site", attributes={"count": value})
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "invalid" and "'count'" in response.json()["detail"]
    fine = create_annotation(client, lab, place.chip, label_class="site", attributes={"count": 2**63 - 1})
    assert fine.status_code == 201 and fine.json()["attributes"] == {"count": 2**63 - 1}
    ident = fine.json()["id"]
    patched = client.patch(
        f"/api/v1/annotations/{ident}", headers=_v(lab, 1), json={"attributes": {"count": 10**30}}
    )
    assert patched.status_code == 422 and patched.json()["code"] == "invalid"
