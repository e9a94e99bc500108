"""A collection's extent as QGIS's "zoom to layer" and temporal controller read it (issue 22): where the
readable labels (or, before any, the readable imagery) lie, and when the readable imagery was acquired;
never where or when what the reader may not read lies."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape

from imagery.synthetic import SceneSpec, write_scene
from tests.pg import TestDatabase
from tests.service.test_svc_access_support import create_annotation, headers
from tests.world import add_member, ingest, make_project, make_user, unique


def scene(directory: Path, name: str, origin: tuple[float, float], acquired: str) -> Path:
    spec = SceneSpec(
        width=256, height=256, seed=len(name), origin=origin, tags={"ACQUISITION_DATETIME": acquired}
    )
    return write_scene(directory / f"{name}.tif", spec)


def collection_extent(client: TestClient, project: object, username: str) -> dict[str, object]:
    response = client.get(f"/ogc/collections/{project}", headers=headers(client, username))
    assert response.status_code == 200, response.text
    return dict(response.json()["extent"])


def test_extent_of_the_readable_imagery_then_of_the_readable_labels(
    client: TestClient, test_db: TestDatabase, data_dir: Path, tmp_path: Path
) -> None:
    project = make_project(test_db, "UNCLASSIFIED")
    low = make_user(test_db, unique("low"), "U")
    high = make_user(test_db, unique("high"), "TS")
    for name in (low, high):
        add_member(test_db, project, name, "labeler")
    here = scene(tmp_path, "here", (399960.0, 4500000.0), "2024-05-06T07:08:09Z")
    far = scene(tmp_path, "far", (499960.0, 4600000.0), "2025-01-02T03:04:05Z")  # 100 km away, later
    ingest(test_db, project, here, data_dir, "UNCLASSIFIED")
    ingest(test_db, project, far, data_dir, "TOP SECRET")

    # No label yet: the imagery each reader may read, never the TOP SECRET scene's place or time.
    seen = collection_extent(client, project, low)
    assert seen["temporal"]["interval"] == [["2024-05-06T07:08:09Z", "2024-05-06T07:08:09Z"]]  # type: ignore[index]
    west, south, east, north = seen["spatial"]["bbox"][0]  # type: ignore[index]
    assert 13.5 < west < east < 14.0 and 40.5 < south < north < 40.7  # the first scene (UTM 33N) alone
    wide = collection_extent(client, project, high)
    assert wide["temporal"]["interval"] == [["2024-05-06T07:08:09Z", "2025-01-02T03:04:05Z"]]  # type: ignore[index]
    assert wide["spatial"]["bbox"][0][3] > 41.4  # type: ignore[index]

    # Labels drawn: where they lie (within the scene), for what they describe the times stay the imagery's.
    chips = client.get(f"/api/v1/chips?project={project}", headers=headers(client, low)).json()["items"]
    drawn = create_annotation(client, headers(client, low), chips[0], index=3, label_class="vehicle")
    assert drawn.status_code == 201, drawn.text
    labeled = collection_extent(client, project, low)
    point = shape(drawn.json()["geometry"])
    assert labeled["spatial"]["bbox"][0] == pytest.approx([point.x, point.y, point.x, point.y], abs=1e-4)  # type: ignore[index]
    assert labeled["temporal"] == seen["temporal"]
