"""What a request may carry (issue 17 items 9-12): every parameter of every route refuses what PostgreSQL
cannot store with a 4xx (a fuzz over the OpenAPI document), bodies are bounded by route (413), a huge
geometry is refused before it is built, and no error quotes more than a short prefix of the input."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import mapping, shape

from api.errors import MAX_DETAIL
from geo_label import geometry
from geo_label.errors import InvalidInputError
from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import add_member, ingest, make_project, make_user, unique

API = "/api/v1"


@pytest.fixture(scope="module")
def world(client: TestClient, test_db: TestDatabase, utm_image: Path, data_dir: Path) -> dict[str, Any]:
    project = make_project(test_db, "UNCLASSIFIED")
    chief = make_user(
        test_db, unique("chief"), "TS//SI/TK", cui_ok=True, roles=frozenset({"admin", "security_officer"})
    )
    add_member(test_db, project, chief, "manager")
    ingest(test_db, project, utm_image, data_dir, "UNCLASSIFIED")
    auth = token(client, chief)
    chip = client.get(f"{API}/chips?project={project}&limit=1", headers=auth).json()["items"][0]
    return {
        "auth": auth,
        "chip": chip,
        "project": str(project),
        "point": mapping(shape(chip["geometry"]).centroid),
    }


def test_a_nul_in_the_export_filter_is_a_clear_refusal(client: TestClient, world: dict[str, Any]) -> None:
    got = client.get(f"{API}/projects/{world['project']}/export?status=%00", headers=world["auth"])
    assert got.status_code == 422, got.text
    assert "NUL character" in got.json()["detail"]
    unknown = client.get(f"{API}/projects/{world['project']}/export?status=bogus", headers=world["auth"])
    assert unknown.status_code == 422 and "status" in unknown.json()["detail"]


# --- every route's parameters, from the OpenAPI document ---


def operations(client: TestClient) -> list[tuple[str, str, list[dict[str, Any]]]]:
    document = client.get("/openapi.json").json()
    found = []
    for path, methods in document["paths"].items():
        if path == "/api/v1/auth/logout":
            continue  # it would end the session the fuzz runs in (tested in test_svc_sessions.py)
        for method, operation in methods.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((method.upper(), path, operation.get("parameters", [])))
    return sorted(found)


#: Text PostgreSQL cannot store (NUL), SQL and path metacharacters, long and non-ASCII text.
awkward_text = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "%00", "'; --", "../../etc/passwd", "\u202e", "x" * 5000, ""]),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40),
)


def parameter_value(draw: Any, parameter: dict[str, Any], world: dict[str, Any]) -> str:
    fmt = parameter.get("schema", {}).get("format")
    if fmt == "uuid" and draw(st.booleans()):
        return draw(st.sampled_from([world["project"], world["chip"]["id"], str(uuid.uuid4())]))
    return str(draw(awkward_text))


@pytest.fixture(scope="module")
def every_operation(client: TestClient) -> list[tuple[str, str, list[dict[str, Any]]]]:
    return operations(client)


def test_no_route_answers_a_parameter_with_a_5xx(
    client: TestClient, world: dict[str, Any], every_operation: list[tuple[str, str, list[dict[str, Any]]]]
) -> None:
    assert len(every_operation) > 40, "the whole API is under test"

    @settings(max_examples=400, suppress_health_check=list(HealthCheck), deadline=None)
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        method, path, parameters = data.draw(st.sampled_from(every_operation))
        url = path
        query: dict[str, str] = {}
        for parameter in parameters:
            value = parameter_value(data.draw, parameter, world)
            if parameter["in"] == "path":
                url = url.replace("{" + parameter["name"] + "}", quote(value, safe="") or "x")
            elif parameter["in"] == "query" and data.draw(st.booleans()):
                query[parameter["name"]] = value
        url = re.sub(r"\{[^}]+\}", "x", url)
        body = {"name": "\x00", "marking": "U\x00"} if method in ("POST", "PUT", "PATCH") else None
        response = client.request(method, url, params=query, headers=world["auth"], json=body)
        assert response.status_code < 500, (method, url, query, response.status_code, response.text)
        assert "psycopg" not in response.text and "SQL" not in response.text

    check()


def test_a_nul_or_an_unpaired_surrogate_in_a_body_is_a_4xx(client: TestClient, world: dict[str, Any]) -> None:
    for text in ('"v\\u0000"', '"v\\ud800"'):
        head = json.dumps({"chip_id": world["chip"]["id"], "class": "vehicle", "geometry": world["point"]})
        body = head[:-1] + ', "attributes": {"note": ' + text + "}}"
        got = client.post(
            f"{API}/annotations", headers={**world["auth"], "Content-Type": "application/json"}, content=body
        )
        assert 400 <= got.status_code < 500, got.text
        project = client.post(
            f"{API}/projects",
            headers={**world["auth"], "Content-Type": "application/json"},
            content='{"name": ' + text + ', "marking": "U", "classes": [{"name": "a"}]}',
        )
        assert 400 <= project.status_code < 500, project.text


# --- bodies ---


def test_a_padded_body_is_refused_with_413(client: TestClient, world: dict[str, Any]) -> None:
    body = json.dumps({"chip_id": world["chip"]["id"], "class": "vehicle", "geometry": world["point"]})
    padded = body[:-1] + " " * (10 * 1024 * 1024) + "}"
    got = client.post(
        f"{API}/annotations", headers={**world["auth"], "Content-Type": "application/json"}, content=padded
    )
    assert got.status_code == 413, got.text
    assert got.json()["code"] == "too_large" and got.headers["cache-control"] == "private, no-store"


def test_a_body_without_a_length_is_counted_as_it_comes(client: TestClient, world: dict[str, Any]) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(64):
            yield b"x" * 8192
        yield b'"}'

    got = client.post(
        f"{API}/projects", headers={**world["auth"], "Content-Type": "application/json"}, content=chunks()
    )
    assert got.status_code == 413, got.text


def test_sign_in_takes_a_few_kilobytes(client: TestClient) -> None:
    got = client.post(f"{API}/auth/token", data={"username": "x" * 8000, "password": "y"})
    assert got.status_code == 413


def test_a_body_within_its_limit_still_works(client: TestClient, world: dict[str, Any]) -> None:
    body = {"chip_id": world["chip"]["id"], "class": "vehicle", "geometry": world["point"]}
    got = client.post(f"{API}/annotations", headers=world["auth"], json=body)
    assert got.status_code == 201, got.text


# --- huge geometries and long input ---


def test_a_million_vertices_are_refused_before_any_shape_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(_: Any) -> Any:
        raise AssertionError("the shape was built before its vertices were counted")

    monkeypatch.setattr(geometry, "shape", never)
    ring = [[0.0, 0.0], *([[1.0, 1.0]] * 999_998), [0.0, 0.0]]
    with pytest.raises(InvalidInputError, match="more than 10000 vertices"):
        geometry.parse_geometry({"type": "Polygon", "coordinates": [ring]}, ["Polygon"])
    with pytest.raises(InvalidInputError, match="more than 10000 vertices"):
        points = [[[float(i % 90), 0.0]] for i in range(20_000)]
        geometry.parse_geometry({"type": "MultiPoint", "coordinates": points}, ["Point"])


@given(
    st.recursive(st.floats() | st.lists(st.floats(), max_size=3), lambda inner: st.lists(inner, max_size=4))
)
def test_counting_positions_agrees_with_a_plain_walk(coordinates: Any) -> None:
    def walk(item: Any) -> int:
        if not isinstance(item, list) or not item:
            return 0
        if not isinstance(item[0], list):
            return 1
        return sum(walk(member) for member in item)

    assert geometry.count_positions(coordinates, 10**9) == walk(coordinates)


def test_errors_quote_only_a_short_prefix_of_the_input(client: TestClient, world: dict[str, Any]) -> None:
    huge = "k" * 200_000
    body = {"chip_id": world["chip"]["id"], "class": huge, "geometry": world["point"]}
    got = client.post(f"{API}/annotations", headers=world["auth"], json=body)
    assert got.status_code == 422
    assert len(got.json()["detail"]) <= MAX_DETAIL and "kkkk" in got.json()["detail"]
    project = {"name": unique("p"), "marking": "U", "classes": [{"name": "c" * 300_000}]}
    refused = client.post(f"{API}/projects", headers=world["auth"], json=project)
    assert refused.status_code == 413, "the schema's body limit comes first"
    project["classes"] = [{"name": "c" * 101}]
    refused = client.post(f"{API}/projects", headers=world["auth"], json=project)
    assert refused.status_code == 422 and "longer than 100" in refused.json()["detail"]
    assert len(refused.json()["detail"]) < 200


# --- hosts ---


def test_a_forged_host_is_refused_and_links_come_from_the_public_url(
    test_db: TestDatabase, data_dir: Path, world: dict[str, Any]
) -> None:
    """Issue 20 item 7: a forged Host header reached every OGC link and the trailing-slash redirect."""
    from pydantic import SecretStr

    from api.app import build_state, create_app
    from geo_label.settings import PasswordScheme, Settings

    settings = Settings(
        data_dir=data_dir,
        token_signing_key=SecretStr("k" * 48),
        password_scheme=PasswordScheme.PBKDF2_SHA256,
        public_url="https://geolabel.example.mil",
        allowed_hosts=["testserver"],
    )
    with TestClient(
        create_app(build_state(settings, test_db.database)), raise_server_exceptions=False
    ) as api:
        forged = api.get("/ogc", headers={**world["auth"], "Host": "evil.example"})
        assert forged.status_code == 400
        redirect = api.get("/ogc/", headers={"Host": "evil.example"}, follow_redirects=False)
        assert redirect.status_code == 400
        links = api.get("/ogc", headers=world["auth"]).json()["links"]
        assert links and all(link["href"].startswith("https://geolabel.example.mil/") for link in links)
    with pytest.raises(ValueError, match="PUBLIC_URL"):
        Settings(public_url="ftp://geolabel/")
