"""The banner endpoint the web UI uses, and the UI's static files served under the app's CSP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import make_user, unique

ROLLUP = "/api/v1/markings/rollup"


@pytest.fixture(scope="module")
def reader(test_db: TestDatabase) -> str:
    return make_user(test_db, unique("banner-reader"), "SECRET")


@pytest.mark.parametrize(
    ("markings", "banner", "colour", "readable"),
    [
        ([], "UNCLASSIFIED", "#007a33", True),
        (["UNCLASSIFIED", "CUI"], "CUI", "#502b85", False),  # the reader has no CUI approval
        (["(C//REL TO USA, GBR)", "UNCLASSIFIED"], "CONFIDENTIAL//REL TO USA, GBR", "#0033a0", True),
        (["SECRET//REL TO USA, AUS, GBR", "U"], "SECRET//REL TO USA, AUS, GBR", "#c8102e", True),
        (["TOP SECRET", "SECRET"], "TOP SECRET//NOFORN", "#ff8c00", False),
        (["TS//SI/TK//NF"], "TOP SECRET//SI/TK//NOFORN", "#fce83a", False),
    ],
)
def test_rollup_banner_and_colour(
    client: TestClient, reader: str, markings: list[str], banner: str, colour: str, readable: bool
) -> None:
    response = client.post(ROLLUP, json={"markings": markings}, headers=token(client, reader))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["banner"], body["colour"], body["readable"]) == (banner, colour, readable)


def test_rollup_refuses_invalid_markings_and_anonymous_callers(client: TestClient, reader: str) -> None:
    bad = client.post(
        ROLLUP, json={"markings": ["SECRET//NOFORN//REL TO USA, GBR"]}, headers=token(client, reader)
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_marking"
    assert client.post(ROLLUP, json={"markings": []}).status_code == 401


def test_web_ui_is_served_by_geolabel_under_its_csp(client: TestClient) -> None:
    shell = client.get("/")
    assert shell.status_code == 200 and shell.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in shell.headers["content-security-policy"]
    assert "<script>" not in shell.text and "style=" not in shell.text  # nothing inline
    for asset in [
        "/ui/js/main.js",
        "/ui/vendor/ol/ol.js",
        "/ui/vendor/ol/ol.css",
        "/ui/vendor/mgrs/mgrs.esm.js",
    ]:
        response = client.get(asset)
        assert response.status_code == 200, asset
    assert client.get("/ui/../api/app.py").status_code == 404
