"""OGC API - Features (Part 1 Core, GeoJSON) over real PostGIS: documents, visibility, paging, filters, and a
real client (GDAL's OAPIF driver through pyogrio) against the app served by uvicorn."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyogrio  # type: ignore[import-untyped]
import pytest
import uvicorn
from fastapi import Request, Response
from fastapi.testclient import TestClient
from shapely.geometry import Point, mapping, shape

from access_control import parse_marking, roll_up
from api.app import create_app
from tests import rasters
from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import add_member, ingest, make_project, make_user, unique

SECRET = "SECRET//REL TO USA, GBR"
CONFIDENTIAL = "CONFIDENTIAL"
# (marking, fraction across the chip): unclassified and confidential labels in the west half, secret ones in
# the east, so an extent built from hidden rows would show.
LAYOUT = [("UNCLASSIFIED", 0.10 + 0.05 * i) for i in range(6)]
LAYOUT += [(CONFIDENTIAL, 0.42), (CONFIDENTIAL, 0.45)]
LAYOUT += [(SECRET, 0.62 + 0.05 * i) for i in range(5)]
READER_VISIBLE = 8  # the C-cleared reader sees the U and C labels, never the S ones


@dataclass
class World:
    project: uuid.UUID
    empty_project: uuid.UUID
    hidden_project: uuid.UUID
    labeler: dict[str, str]
    reader: dict[str, str]
    outsider: dict[str, str]
    officer: dict[str, str]
    labeler_name: str
    ids: dict[str, str]  # feature id -> marking banner
    lon: dict[str, float]  # feature id -> longitude
    hidden_feature: str


@pytest.fixture(scope="module")
def world(
    client: TestClient, test_db: TestDatabase, tmp_path_factory: pytest.TempPathFactory, data_dir: Path
) -> World:
    # Small images of their own (quick to tile).
    folder = tmp_path_factory.mktemp("ogc")
    image = rasters.utm_uint16(folder / "ogc.tif", width=300, height=300, seed=4101)
    other_image = rasters.utm_uint16(folder / "ogc_hidden.tif", width=300, height=300, seed=4102)
    project = make_project(test_db, "UNCLASSIFIED")
    empty_project = make_project(test_db, "UNCLASSIFIED")
    hidden_project = make_project(test_db, "UNCLASSIFIED")
    labeler = make_user(test_db, unique("ogc-lab"), "S", "USA")
    reader = make_user(test_db, unique("ogc-read"), "C", "USA")
    outsider = make_user(test_db, unique("ogc-out"), "S", "USA")
    officer = make_user(test_db, unique("ogc-so"), "TS", "USA", roles=frozenset({"security_officer"}))
    for member in (labeler, reader):
        add_member(test_db, project, member)
        add_member(test_db, empty_project, member)
    add_member(test_db, hidden_project, labeler)
    add_member(test_db, hidden_project, outsider)
    ingest(test_db, project, image, data_dir, "UNCLASSIFIED")
    ingest(test_db, hidden_project, other_image, data_dir, "UNCLASSIFIED")
    headers = token(client, labeler)

    def first_chip(project_id: uuid.UUID) -> dict[str, Any]:
        chips = client.get(f"/api/v1/chips?project={project_id}", headers=headers)
        assert chips.status_code == 200, chips.text
        chip: dict[str, Any] = chips.json()["items"][0]
        return chip

    def create(chip: dict[str, Any], marking: str, fraction: float) -> tuple[str, float]:
        footprint = shape(chip["geometry"])
        west, south, east, north = footprint.bounds
        point = Point(west + (east - west) * fraction, (south + north) / 2)
        assert footprint.contains(point)
        response = client.post(
            "/api/v1/annotations",
            headers=headers,
            json={"chip_id": chip["id"], "class": "vehicle", "geometry": mapping(point), "marking": marking},
        )
        assert response.status_code == 201, response.text
        assert response.json()["marking"] == marking
        return response.json()["id"], point.x

    chip = first_chip(project)
    ids: dict[str, str] = {}
    lon: dict[str, float] = {}
    for marking, fraction in LAYOUT:
        feature_id, x = create(chip, marking, fraction)
        ids[feature_id] = marking
        lon[feature_id] = x
    hidden_feature, _ = create(first_chip(hidden_project), "UNCLASSIFIED", 0.5)
    return World(
        project=project,
        empty_project=empty_project,
        hidden_project=hidden_project,
        labeler=headers,
        reader=token(client, reader),
        outsider=token(client, outsider),
        officer=token(client, officer),
        labeler_name=labeler,
        ids=ids,
        lon=lon,
        hidden_feature=hidden_feature,
    )


def visible(world: World, headers: dict[str, str]) -> set[str]:
    if headers is world.labeler:
        return set(world.ids)
    return {i for i, m in world.ids.items() if m != SECRET}


def all_pages(
    client: TestClient, url: str, headers: dict[str, str]
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Follow the next links from ``url``; every page's body (features, numberMatched) is returned."""
    features: list[dict[str, Any]] = []
    pages: list[Any] = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body)
        features += body["features"]
        assert body["numberReturned"] == len(body["features"])
        nexts = [link["href"] for link in body["links"] if link["rel"] == "next"]
        assert len(nexts) <= 1
        next_url = nexts[0] if nexts else None
        assert len(pages) < 50, "paging does not end"
    return features, pages


def test_landing_page_and_conformance(client: TestClient, world: World) -> None:
    response = client.get("/ogc", headers=world.reader)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "private, no-store"
    body = response.json()
    assert body["title"] and body["description"]
    links = {link["rel"]: link for link in body["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(links)
    assert links["self"]["href"] == "http://testserver/ogc"
    assert links["service-desc"]["href"] == "http://testserver/openapi.json"
    assert links["conformance"]["href"] == "http://testserver/ogc/conformance"
    assert links["data"]["href"] == "http://testserver/ogc/collections"
    assert client.get(links["service-desc"]["href"]).status_code == 200

    conformance = client.get(links["conformance"]["href"], headers=world.reader)
    assert conformance.status_code == 200
    assert set(conformance.json()["conformsTo"]) >= {
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    }


def test_collections_are_the_visible_projects_with_visible_extents(client: TestClient, world: World) -> None:
    response = client.get("/ogc/collections", headers=world.reader)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    collections = {c["id"]: c for c in response.json()["collections"]}
    assert str(world.project) in collections and str(world.empty_project) in collections
    assert str(world.hidden_project) not in collections

    mine = collections[str(world.project)]
    assert mine["itemType"] == "feature"
    assert mine["marking"] == "UNCLASSIFIED"
    assert "http://www.opengis.net/def/crs/OGC/1.3/CRS84" in mine["crs"]
    items = [link for link in mine["links"] if link["rel"] == "items"]
    assert items[0]["href"] == f"http://testserver/ogc/collections/{world.project}/items"
    assert items[0]["type"] == "application/geo+json"

    # The reader's extent comes from the labels they may read only: the secret ones lie further east.
    west, _, east, _ = mine["extent"]["spatial"]["bbox"][0]
    readable_lons = [world.lon[i] for i in visible(world, world.reader)]
    assert west == pytest.approx(min(readable_lons)) and east == pytest.approx(max(readable_lons))
    assert east < min(world.lon[i] for i, m in world.ids.items() if m == SECRET)
    full = client.get(f"/ogc/collections/{world.project}", headers=world.labeler).json()
    assert full["extent"]["spatial"]["bbox"][0][2] == pytest.approx(max(world.lon.values()))

    assert collections[str(world.empty_project)]["extent"]["spatial"]["bbox"] == [[-180, -90, 180, 90]]

    one = client.get(f"/ogc/collections/{world.project}", headers=world.reader)
    assert one.status_code == 200
    assert one.json()["extent"] == mine["extent"] and one.json()["title"] == mine["title"]


def test_items_feature_collection_shape(client: TestClient, world: World) -> None:
    response = client.get(f"/ogc/collections/{world.project}/items", headers=world.labeler)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["cache-control"] == "private, no-store"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == body["numberReturned"] == len(world.ids)
    assert body["timeStamp"].endswith("Z")
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert rels["self"].startswith(f"http://testserver/ogc/collections/{world.project}/items?")
    assert "next" not in rels and "prev" not in rels
    expected_roll_up = roll_up(parse_marking(m) for m in world.ids.values()).banner()
    assert body["marking"] == expected_roll_up

    feature = next(f for f in body["features"] if world.ids[f["id"]] == SECRET)
    props = feature["properties"]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Point"
    assert props["marking"] == "(S//REL TO USA, GBR)"
    assert props["marking_banner"] == SECRET
    assert props["class"] == "vehicle" and props["status"] == "draft" and props["version"] == 1
    assert props["attributes"] == {}
    for key in ("chip_id", "image_id", "created_at", "updated_at"):
        assert props[key]

    single = client.get(f"/ogc/collections/{world.project}/items/{feature['id']}", headers=world.labeler)
    assert single.status_code == 200, single.text
    assert single.headers["content-type"] == "application/geo+json"
    assert single.json()["id"] == feature["id"]
    assert single.json()["properties"] == props


def test_number_matched_counts_only_readable_items(client: TestClient, world: World) -> None:
    body = client.get(f"/ogc/collections/{world.project}/items", headers=world.reader).json()
    assert body["numberMatched"] == body["numberReturned"] == READER_VISIBLE
    assert {f["id"] for f in body["features"]} == visible(world, world.reader)
    # The page's banner rolls up what the reader got (no secret item): a classified item without REL TO
    # makes the roll-up NOFORN.
    assert body["marking"] == "CONFIDENTIAL//NOFORN"
    labeler = client.get(f"/ogc/collections/{world.project}/items", headers=world.labeler).json()
    assert labeler["numberMatched"] == len(world.ids) > READER_VISIBLE

    secret = next(i for i, m in world.ids.items() if m == SECRET)
    hidden = client.get(f"/ogc/collections/{world.project}/items/{secret}", headers=world.reader)
    missing = client.get(f"/ogc/collections/{world.project}/items/{uuid.uuid4()}", headers=world.reader)
    malformed = client.get(f"/ogc/collections/{world.project}/items/not-a-uuid", headers=world.reader)
    assert hidden.status_code == missing.status_code == malformed.status_code == 404
    assert hidden.json() == missing.json() == malformed.json()


@pytest.mark.parametrize("who", ["labeler", "reader"])
def test_next_links_visit_every_item_once(client: TestClient, world: World, who: str) -> None:
    headers = getattr(world, who)
    url = f"/ogc/collections/{world.project}/items?limit=3"
    features, pages = all_pages(client, url, headers)
    ids = [f["id"] for f in features]
    assert len(ids) == len(set(ids)) and set(ids) == visible(world, headers)
    assert pages[0]["numberMatched"] == len(ids)
    assert all("numberMatched" not in p for p in pages[1:])  # pages a cursor leads to count only if asked
    assert len(pages) == -(-len(ids) // 3)
    assert not [link for link in pages[0]["links"] if link["rel"] == "prev"]
    back: list[list[str]] = []  # prev links, followed from the last page, give the same pages in reverse
    page = pages[-1]
    while prevs := [link["href"] for link in page["links"] if link["rel"] == "prev"]:
        page = client.get(prevs[0], headers=headers).json()
        back.append([f["id"] for f in page["features"]])
        assert len(back) < 50, "walking back does not end"
    assert back == [[f["id"] for f in p["features"]] for p in reversed(pages[:-1])]
    for page in pages:
        assert (
            page["marking"]
            == roll_up(parse_marking(f["properties"]["marking_banner"]) for f in page["features"]).banner()
        )


@pytest.mark.parametrize("who", ["labeler", "reader"])
def test_items_are_the_annotations_pages_features(client: TestClient, world: World, who: str) -> None:
    """Issue 16: OGC items go through the annotations' own page and count statements: the same features
    in the same order, the same geometry text and the same count as /api/v1/annotations."""
    headers = getattr(world, who)
    features, pages = all_pages(client, f"/ogc/collections/{world.project}/items?limit=2", headers)
    items: list[dict[str, Any]] = []
    url = f"/api/v1/annotations?project={world.project}&limit=2"
    first = page = client.get(url, headers=headers).json()
    items += page["items"]
    while page["next_cursor"] is not None:
        page = client.get(f"{url}&cursor={page['next_cursor']}", headers=headers).json()
        items += page["items"]
    assert [f["id"] for f in features] == [i["id"] for i in items]
    assert [f["geometry"] for f in features] == [i["geometry"] for i in items]
    assert pages[0]["numberMatched"] == first["total"] == len(items)


def test_bbox_filters_and_is_kept_in_next_links(client: TestClient, world: World) -> None:
    secret_west = min(world.lon[i] for i, m in world.ids.items() if m == SECRET)
    east_half = f"{secret_west - 1e-7},-90,180,90"
    body = client.get(
        f"/ogc/collections/{world.project}/items?bbox={east_half}", headers=world.labeler
    ).json()
    secret_ids = {i for i, m in world.ids.items() if m == SECRET}
    assert {f["id"] for f in body["features"]} == secret_ids and body["numberMatched"] == len(secret_ids)
    hidden = client.get(f"/ogc/collections/{world.project}/items?bbox={east_half}", headers=world.reader)
    assert hidden.json()["numberMatched"] == 0 and hidden.json()["features"] == []

    west_half = f"-180,-90,{secret_west - 1e-7},90"
    features, pages = all_pages(
        client, f"/ogc/collections/{world.project}/items?bbox={west_half}&limit=2", world.labeler
    )
    assert {f["id"] for f in features} == set(world.ids) - secret_ids
    assert all("bbox=" in link["href"] for p in pages for link in p["links"] if link["rel"] == "next")
    six = f"-180,-90,0,{secret_west - 1e-7},90,0"
    assert client.get(f"/ogc/collections/{world.project}/items?bbox={six}", headers=world.labeler).json()[
        "numberMatched"
    ] == len(world.ids) - len(secret_ids)


def test_datetime_filter(client: TestClient, world: World) -> None:
    url = f"/ogc/collections/{world.project}/items"

    def matched(value: str) -> int:
        response = client.get(url, params={"datetime": value}, headers=world.labeler)
        assert response.status_code == 200, response.text
        count: int = response.json()["numberMatched"]
        return count

    assert matched("2000-01-01T00:00:00Z/..") == len(world.ids)
    assert matched("../2000-01-01T00:00:00Z") == 0
    assert matched("2000-01-01/2999-12-31") == len(world.ids)
    assert matched("2000-01-01") == 0


@pytest.mark.parametrize(
    "query",
    [
        "bbox=1,2,3",
        "bbox=a,b,c,d",
        "bbox=0,10,1,5",
        "limit=0",
        "limit=ten",
        "offset=-1",
        "datetime=yesterday",
        "datetime=../..",
        "colour=red",
        "bbox-crs=EPSG:3857",
    ],
)
def test_bad_parameters_are_400(client: TestClient, world: World, query: str) -> None:
    response = client.get(f"/ogc/collections/{world.project}/items?{query}", headers=world.reader)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"code", "detail"} and body["detail"]


def test_limit_above_the_maximum_is_lowered(client: TestClient, world: World) -> None:
    response = client.get(f"/ogc/collections/{world.project}/items?limit=5000", headers=world.reader)
    assert response.status_code == 200, response.text
    self_link = next(link["href"] for link in response.json()["links"] if link["rel"] == "self")
    assert "limit=1000" in self_link


def test_hidden_collection_is_404_like_a_missing_one(client: TestClient, world: World) -> None:
    for suffix in ("", "/items", f"/items/{world.hidden_feature}"):
        hidden = client.get(f"/ogc/collections/{world.hidden_project}{suffix}", headers=world.reader)
        missing = client.get(f"/ogc/collections/{uuid.uuid4()}{suffix}", headers=world.reader)
        malformed = client.get(f"/ogc/collections/nope{suffix}", headers=world.reader)
        assert hidden.status_code == missing.status_code == malformed.status_code == 404, suffix
        assert hidden.json() == missing.json() == malformed.json()
    # A feature of another (visible to its members) project is not part of this collection.
    other = client.get(
        f"/ogc/collections/{world.project}/items/{world.hidden_feature}", headers=world.labeler
    )
    assert other.status_code == 404
    # The outsider sees the hidden project, not the reader's.
    ids = {c["id"] for c in client.get("/ogc/collections", headers=world.outsider).json()["collections"]}
    assert str(world.hidden_project) in ids and str(world.project) not in ids


@pytest.mark.parametrize(
    "path",
    ["/ogc", "/ogc/conformance", "/ogc/collections", "/ogc/collections/{p}", "/ogc/collections/{p}/items"],
)
def test_no_token_is_401(client: TestClient, world: World, path: str) -> None:
    response = client.get(path.format(p=world.project))
    assert response.status_code == 401
    # QGIS 3.22 and GDAL 3.6 speak Basic (with a read-only access token): the challenge says so (issue 22).
    assert response.headers["www-authenticate"] == 'Basic realm="GeoLabel"'
    bad = client.get(path.format(p=world.project), headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401


def test_classified_reads_are_audited(client: TestClient, world: World) -> None:
    secret = next(i for i, m in world.ids.items() if m == SECRET)
    assert (
        client.get(f"/ogc/collections/{world.project}/items/{secret}", headers=world.labeler).status_code
        == 200
    )
    records = client.get("/api/v1/audit?action=annotation.read&limit=1000", headers=world.officer)
    assert records.status_code == 200, records.text
    ours = [
        r
        for r in records.json()["items"]
        if r["actor"] == world.labeler_name and r["details"].get("via") == "ogc"
    ]
    assert any(r["item_id"] == secret and r["marking"] == SECRET for r in ours)


# --- a real client: GDAL's OAPIF driver -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Served:
    url: str
    requests: list[str]  # path?query of every request the server got


@pytest.fixture(scope="module")
def served(client: TestClient) -> Iterator[Served]:
    """An app on the ``client`` fixture's state (same database, keys, settings), served over HTTP by uvicorn
    in a background thread, recording the requests it gets."""
    app = create_app(client.app.state.geo_label)  # type: ignore[attr-defined]
    requests: list[str] = []

    @app.middleware("http")
    async def record(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        requests.append(f"{request.url.path}?{request.url.query}")
        return await call_next(request)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="ogc-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", requests)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def gdal_bearer(tmp_path: Path) -> Iterator[Callable[[dict[str, str] | None], None]]:
    """Sends a bearer token with GDAL's requests, through GDAL_HTTP_HEADER_FILE: the OAPIF driver sets its own
    Accept header on each request, which replaces GDAL_HTTP_HEADERS altogether (GDAL 3.12). A timeout turns a
    stuck request into a failure rather than a hung test run."""
    header_file = tmp_path / "gdal-headers.txt"

    def use(headers: dict[str, str] | None) -> None:
        options: dict[str, str | None] = {"GDAL_HTTP_TIMEOUT": "30", "GDAL_HTTP_HEADER_FILE": None}
        if headers is not None:
            header_file.write_text(f"Authorization: {headers['Authorization']}\n")
            header_file.chmod(0o600)
            options["GDAL_HTTP_HEADER_FILE"] = str(header_file)
        pyogrio.set_gdal_config_options(options)

    try:
        yield use
    finally:
        pyogrio.set_gdal_config_options({"GDAL_HTTP_HEADER_FILE": None, "GDAL_HTTP_TIMEOUT": None})


@pytest.mark.parametrize("who", ["labeler", "reader"])
def test_gdal_oapif_reads_the_features(
    world: World, served: Served, gdal_bearer: Callable[[dict[str, str] | None], None], who: str
) -> None:
    headers = getattr(world, who)
    gdal_bearer(headers)
    source = f"OAPIF:{served.url}/ogc"
    layers = {name for name, _ in pyogrio.list_layers(source)}
    assert str(world.project) in layers
    assert (str(world.hidden_project) in layers) == (who == "labeler")  # the reader is no member of it

    # PAGE_SIZE 3 makes GDAL follow the next links across pages. use_arrow: pyogrio's other read path keeps
    # the GIL while GDAL waits for HTTP answers, which this in-process server could then never send.
    del served.requests[:]
    frame = pyogrio.read_dataframe(source, layer=str(world.project), PAGE_SIZE=3, use_arrow=True)
    expected = visible(world, headers)
    assert len(frame) == len(expected)
    assert set(frame["id"]) == expected
    assert set(frame["class"]) == {"vehicle"}
    assert dict(zip(frame["id"], frame["marking_banner"], strict=True)) == {i: world.ids[i] for i in expected}
    assert set(frame.geometry.geom_type) == {"Point"}
    assert frame.crs is not None and frame.crs.to_epsg() == 4326
    pages = [r for r in served.requests if r.startswith(f"/ogc/collections/{world.project}/items?")]
    assert len(pages) >= -(-len(expected) // 3), served.requests
    assert any("cursor=" in r for r in pages), pages  # GDAL followed a next link

    info = pyogrio.read_info(source, layer=str(world.project))  # GDAL takes the count from numberMatched
    assert info["features"] == len(expected)
    assert "/openapi.json?" in served.requests  # found through the landing page's service-desc link


def test_gdal_oapif_without_a_token_fails(
    world: World, served: Served, gdal_bearer: Callable[[dict[str, str] | None], None]
) -> None:
    gdal_bearer(None)
    with pytest.raises(pyogrio.errors.DataSourceError, match="401"):
        pyogrio.list_layers(f"OAPIF:{served.url}/ogc")


def test_pages_count_up_to_a_cap_unless_asked(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21: every page counted every match (a second a page at a million). Past the cap a page says how
    many at least, and the next links still visit every item once; count=true counts them all."""
    from api.routes import ogc

    monkeypatch.setattr(ogc, "COUNT_CAP", 3)
    ids = visible(world, world.labeler)
    assert len(ids) > 4
    url = f"/ogc/collections/{world.project}/items?limit=2"
    features, pages = all_pages(client, url, world.labeler)
    assert sorted(f["id"] for f in features) == sorted(ids)
    assert "numberMatched" not in pages[0] and pages[0]["geolabel:numberMatchedAtLeast"] == 4
    counted, counted_pages = all_pages(client, f"{url}&count=true", world.labeler)
    assert len(counted) == len(ids) and {p["numberMatched"] for p in counted_pages} == {len(ids)}
    assert client.get(f"{url}&count=maybe", headers=world.labeler).status_code == 400


def test_cursors_are_bound_to_the_caller_and_the_query(client: TestClient, world: World) -> None:
    url = f"/ogc/collections/{world.project}/items"
    first = client.get(url, params={"limit": 2}, headers=world.reader).json()
    following = next(link["href"] for link in first["links"] if link["rel"] == "next")
    cursor = following.split("cursor=")[1]
    assert client.get(following, headers=world.reader).status_code == 200

    body, _, mac = cursor.partition(".")
    tampered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac
    refused = [
        client.get(url, params={"limit": 2, "cursor": tampered}, headers=world.reader),  # altered
        client.get(url, params={"limit": 2, "cursor": cursor}, headers=world.labeler),  # someone else's
        client.get(url, params={"limit": 2, "cursor": cursor, "bbox": "-180,-90,0,90"}, headers=world.reader),
        client.get(url, params={"limit": 2, "cursor": "not-a-cursor"}, headers=world.reader),
        client.get(url, params={"limit": 2, "cursor": cursor, "offset": 2}, headers=world.reader),
    ]
    assert [r.status_code for r in refused] == [400] * 5
    assert all(r.json()["code"] == "invalid_parameter" for r in refused)
    # another page size is the same walk
    assert client.get(url, params={"limit": 5, "cursor": cursor}, headers=world.reader).status_code == 200
