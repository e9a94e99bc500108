"""Annotations on a chip that crosses the antimeridian: drawn across it, checked as one shape, stored split
(RFC 7946), found by boxes on either side, and refused when outside the chip or of a type not allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from fastapi.testclient import TestClient
from rasterio.transform import from_origin
from shapely.geometry import shape

from geo_label.projects import LabelClass
from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import add_member, ingest, make_project, make_user, unique

#: Wrapped positions (RFC 7946 longitudes), 0.2 x 0.1 degree across 180: as the browser sends a drawn box.
ACROSS = [[179.9, 9.9], [179.9, 9.8], [-179.9, 9.8], [-179.9, 9.9], [179.9, 9.9]]
#: The same box, split at 180 as RFC 7946 stores it.
SPLIT = [
    [[[179.9, 9.9], [179.9, 9.8], [180.0, 9.8], [180.0, 9.9], [179.9, 9.9]]],
    [[[-180.0, 9.9], [-180.0, 9.8], [-179.9, 9.8], [-179.9, 9.9], [-180.0, 9.9]]],
]


@pytest.fixture(scope="module")
def pacific_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """EPSG:4326, lon 179.5 to 180.7 and lat 8.8 to 10 (300 x 300 pixels of 0.004 degree)."""
    path = tmp_path_factory.mktemp("pacific") / "pacific.tif"
    pixels = np.random.default_rng(3).integers(1, 255, (3, 300, 300), dtype=np.uint8)
    profile = {"driver": "GTiff", "width": 300, "height": 300, "count": 3, "dtype": "uint8"}
    with rasterio.open(
        path, "w", crs="EPSG:4326", transform=from_origin(179.5, 10.0, 0.004, 0.004), **profile
    ) as dst:
        dst.write(pixels)
    return path


@pytest.fixture(scope="module")
def pacific(test_db: TestDatabase, pacific_image: Path, data_dir: Path, client: TestClient) -> dict[str, Any]:
    classes = [LabelClass("area", ("Polygon",)), LabelClass("anything")]
    project = make_project(test_db, "UNCLASSIFIED", classes)
    analyst = make_user(test_db, unique("pacific"), "S", "USA")
    add_member(test_db, project, analyst)
    ingest(test_db, project, pacific_image, data_dir, "UNCLASSIFIED")
    headers = token(client, analyst)
    chips = client.get(f"/api/v1/chips?project={project}", headers=headers).json()["items"]
    crossing = [c for c in chips if c["geometry"]["type"] == "MultiPolygon"]
    assert crossing, "the image's first chip crosses 180 degrees, so its footprint is split"
    first = min(crossing, key=lambda c: (c["row_off"], c["col_off"]))
    return {"project": project, "headers": headers, "chip": first}


def create(client: TestClient, pacific: dict[str, Any], geometry: dict[str, Any], cls: str = "area") -> Any:
    return client.post(
        "/api/v1/annotations",
        headers=pacific["headers"],
        json={"chip_id": pacific["chip"]["id"], "class": cls, "geometry": geometry, "attributes": {}},
    )


def test_a_box_drawn_across_180_is_stored_split(client: TestClient, pacific: dict[str, Any]) -> None:
    created = create(client, pacific, {"type": "Polygon", "coordinates": [ACROSS]})
    assert created.status_code == 201, created.text
    stored = client.get(f"/api/v1/annotations/{created.json()['id']}", headers=pacific["headers"]).json()
    geometry = shape(stored["geometry"])
    assert stored["geometry"]["type"] == "MultiPolygon"
    west_part, east_part = sorted(geometry.geoms, key=lambda part: -part.bounds[0])
    assert west_part.bounds == pytest.approx((179.9, 9.8, 180.0, 9.9))
    assert east_part.bounds == pytest.approx((-180.0, 9.8, -179.9, 9.9))
    assert geometry.area == pytest.approx(0.02)


def test_the_split_form_is_accepted_as_one_polygon(client: TestClient, pacific: dict[str, Any]) -> None:
    """A class allowing only polygons takes the two halves of one polygon (as the browser sends an edited one
    it received split), not two polygons apart."""
    halves = create(client, pacific, {"type": "MultiPolygon", "coordinates": SPLIT}, cls="area")
    assert halves.status_code == 201, halves.text
    assert shape(halves.json()["geometry"]).area == pytest.approx(0.02)
    apart = [SPLIT[0], [[[-179.8, 9.9], [-179.8, 9.8], [-179.7, 9.8], [-179.7, 9.9], [-179.8, 9.9]]]]
    refused = create(client, pacific, {"type": "MultiPolygon", "coordinates": apart}, cls="area")
    assert refused.status_code in (400, 422), refused.text
    assert "MultiPolygon is not allowed" in refused.text


def test_shapes_on_either_side_of_180_are_inside_the_chip(
    client: TestClient, pacific: dict[str, Any]
) -> None:
    east = create(client, pacific, {"type": "Point", "coordinates": [-179.95, 9.5]}, cls="anything")
    assert east.status_code == 201, east.text
    west = create(client, pacific, {"type": "Point", "coordinates": [179.95, 9.5]}, cls="anything")
    assert west.status_code == 201, west.text
    far = create(client, pacific, {"type": "Point", "coordinates": [-170.0, 9.5]}, cls="anything")
    assert far.status_code in (400, 422) and "outside the chip" in far.text


def test_boxes_on_either_side_find_the_split_annotation(client: TestClient, pacific: dict[str, Any]) -> None:
    created = create(client, pacific, {"type": "Polygon", "coordinates": [ACROSS]})
    assert created.status_code == 201, created.text
    wanted = created.json()["id"]
    project, headers = pacific["project"], pacific["headers"]
    for bbox in ("179.85,9.7,-179.85,9.95", "179.85,9.7,179.95,9.95", "-179.95,9.7,-179.85,9.95"):
        found = client.get(f"/api/v1/annotations?project={project}&bbox={bbox}&limit=1000", headers=headers)
        assert wanted in {item["id"] for item in found.json()["items"]}, bbox
