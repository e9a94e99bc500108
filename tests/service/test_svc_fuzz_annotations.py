"""POST /api/v1/annotations and PATCH /api/v1/annotations/{id} with fuzzed bodies: every answer is a 2xx or a
4xx with a reason, never a 500, and nothing half-written is left behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import mapping, shape

from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import add_member, ingest, make_project, make_user, unique

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def world(client: TestClient, test_db: TestDatabase, utm_image: Path, data_dir: Path) -> dict[str, Any]:
    project = make_project(test_db, "UNCLASSIFIED")
    analyst = make_user(test_db, unique("fuzz"), "S", "USA")
    add_member(test_db, project, analyst)
    ingest(test_db, project, utm_image, data_dir, "UNCLASSIFIED")
    headers = token(client, analyst)
    chip = client.get(f"/api/v1/chips?project={project}&limit=1", headers=headers).json()["items"][0]
    centre = shape(chip["geometry"]).centroid
    return {"headers": headers, "chip": chip, "point": mapping(centre), "project": project}


def bodies(world: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    valid = {
        "chip_id": world["chip"]["id"],
        "class": "vehicle",
        "geometry": world["point"],
        "marking": "UNCLASSIFIED",
        "attributes": {},
    }
    fields = [*sorted(valid), "status", "source", "confidence"]
    return st.dictionaries(st.sampled_from(fields), json_values, max_size=6).map(
        lambda changes: {**valid, **changes}
    )


def test_fuzzed_creates_and_updates_never_fail_with_500(client: TestClient, world: dict[str, Any]) -> None:
    headers = world["headers"]

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(bodies(world), st.sampled_from(["post", "patch"]))
    def check(body: dict[str, Any], method: str) -> None:
        if method == "post":
            answer = client.post("/api/v1/annotations", headers=headers, json=body)
        else:
            created = client.post(
                "/api/v1/annotations",
                headers=headers,
                json={"chip_id": world["chip"]["id"], "class": "vehicle", "geometry": world["point"]},
            )
            assert created.status_code == 201, created.text
            etag = created.headers.get("ETag", "")
            answer = client.patch(
                f"/api/v1/annotations/{created.json()['id']}",
                headers={**headers, "If-Match": etag},
                json={k: v for k, v in body.items() if k != "chip_id"},
            )
        assert answer.status_code < 500, answer.text
        if answer.status_code >= 400:
            assert answer.json().get("detail"), answer.text

    check()
