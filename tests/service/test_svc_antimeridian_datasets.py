"""One object, once, and training datasets across the antimeridian (issue 14): chips of 128 pixels that
overlap by 64 on an image running from 179.5 to 180.7 degrees, so the overlap of the first two chips
crosses 180."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from fastapi.testclient import TestClient
from shapely.geometry import shape

from geo_label.projects import LabelClass
from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import add_member, ingest, make_project, make_user, unique

#: 179.96 to 180.008 degrees (that is, to -179.992), 9.9 to 9.86: on chip columns 0 and 64, across 180.
PIXELS = (115, 25, 127, 35)  # col0, row0, col1, row1 on the image (0.004 degree pixels from 179.5, 10.0)


def lonlat(col: float, row: float) -> tuple[float, float]:
    lon = 179.5 + col * 0.004
    return (lon - 360.0 if lon > 180.0 else lon), 10.0 - row * 0.004


def across(shift: float = 0.0) -> dict[str, Any]:
    """The box as the browser sends it across 180: wrapped positions."""
    col0, row0, col1, row1 = PIXELS
    ring = [
        lonlat(col0 + shift, row0),
        lonlat(col1 + shift, row0),
        lonlat(col1 + shift, row1),
        lonlat(col0 + shift, row1),
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


@pytest.fixture(scope="module")
def pacific(
    tmp_path_factory: pytest.TempPathFactory, test_db: TestDatabase, data_dir: Path, client: TestClient
) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("pacific-overlap") / "pacific.tif"
    pixels = np.random.default_rng(5).integers(1, 255, (3, 300, 300), dtype=np.uint8)
    profile = {"driver": "GTiff", "width": 300, "height": 300, "count": 3, "dtype": "uint8"}
    with rasterio.open(
        path,
        "w",
        crs="EPSG:4326",
        transform=rasterio.transform.from_origin(179.5, 10.0, 0.004, 0.004),
        **profile,
    ) as dst:
        dst.write(pixels)
    project = make_project(test_db, "UNCLASSIFIED", [LabelClass("area", ("Polygon",))])
    analyst = make_user(test_db, unique("pacific-ds"), "S", "USA")
    add_member(test_db, project, analyst)
    ingest(test_db, project, path, data_dir, "UNCLASSIFIED", size=128, overlap=64)
    headers = token(client, analyst)
    chips = client.get(f"/api/v1/chips?project={project}&limit=100", headers=headers).json()["items"]
    by_offset = {(c["row_off"], c["col_off"]): c["id"] for c in chips}
    return {"project": project, "headers": headers, "chips": by_offset}


def draw(client: TestClient, pacific: dict[str, Any], col_off: int, geometry: dict[str, Any]) -> str:
    body = {"chip_id": pacific["chips"][(0, col_off)], "class": "area", "geometry": geometry}
    response = client.post("/api/v1/annotations", headers=pacific["headers"], json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_an_object_across_180_on_two_chips_is_one_feature_and_lands_whole_on_each_chip(
    client: TestClient, pacific: dict[str, Any]
) -> None:
    first = draw(client, pacific, 0, across())
    second = draw(client, pacific, 64, across(0.3))
    base = f"/api/v1/projects/{pacific['project']}"
    body = client.get(f"{base}/export", headers=pacific["headers"]).json()
    assert body["feature_count"] == 1
    feature = body["features"][0]
    assert feature["properties"]["merged_from"] == sorted([first, second])
    assert feature["geometry"]["type"] == "MultiPolygon", "stored and exported split at 180 (RFC 7946)"
    assert shape(feature["geometry"]).area == pytest.approx(12.3 * 10 * 0.004**2, rel=0.05)

    response = client.get(f"{base}/dataset?format=coco&format=masks&split=1", headers=pacific["headers"])
    assert response.status_code == 200, response.text
    with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
        root = f"dataset-{pacific['project']}"
        coco = json.load(archive.extractfile(f"{root}/annotations/instances_train.json"))  # type: ignore[arg-type]
        images = {image["chip_id"]: image for image in coco["images"]}
        boxes = {
            images_by_id["chip_id"]: annotation["bbox"]
            for annotation in coco["annotations"]
            for images_by_id in coco["images"]
            if images_by_id["id"] == annotation["image_id"]
        }
        assert boxes[pacific["chips"][(0, 0)]] == pytest.approx([115, 25, 12, 10], abs=0.05)
        assert boxes[pacific["chips"][(0, 64)]] == pytest.approx([115.3 - 64, 25, 12, 10], abs=0.05)
        mask_name = f"{root}/masks/{pacific['chips'][(0, 0)]}.tif"
        with rasterio.open(io.BytesIO(archive.extractfile(mask_name).read())) as mask:  # type: ignore[union-attr]
            pixels = mask.read(1)
        assert (pixels[25:35, 115:127] == 1).all() and pixels.sum() == 12 * 10
        assert set(images) == {pacific["chips"][(0, 0)], pacific["chips"][(0, 64)]}
