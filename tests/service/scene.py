"""A test scene: the UTM test image's pixel positions as lon/lat, and its chips by pixel offsets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import rasterio
from fastapi.testclient import TestClient
from pyproj import Transformer
from shapely.geometry import box as shapely_box
from shapely.geometry import mapping

from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import add_member, ingest, make_project, make_user, unique

#: Chips of 256 pixels overlapping by 64: chip columns start at 0, 192, 384, ... (10 m pixels, UTM 33N).
SIZE, OVERLAP = 256, 64


class Scene:
    """Pixel positions of the test image as lon/lat, and its chips by their pixel offsets."""

    def __init__(self, image: Path, chips: list[dict[str, Any]]) -> None:
        with rasterio.open(image) as dataset:
            self.transform = dataset.transform
            self.to_lonlat = Transformer.from_crs(dataset.crs, "EPSG:4326", always_xy=True)
        self.chips = {(chip["row_off"], chip["col_off"]): chip["id"] for chip in chips}

    def lonlat(self, col: float, row: float) -> tuple[float, float]:
        x, y = self.transform * (col, row)
        lon, lat = self.to_lonlat.transform(x, y)
        return float(lon), float(lat)

    def box(self, col0: float, row0: float, col1: float, row1: float) -> dict[str, Any]:
        (w, n), (e, s) = self.lonlat(col0, row0), self.lonlat(col1, row1)
        return dict(mapping(shapely_box(min(w, e), min(s, n), max(w, e), max(s, n))))

    def polygon(self, pixels: list[tuple[float, float]]) -> dict[str, Any]:
        """A polygon given by its vertices in image pixels (col, row), as GeoJSON in lon/lat."""
        ring = [self.lonlat(col, row) for col, row in [*pixels, pixels[0]]]
        return {"type": "Polygon", "coordinates": [ring]}


def overlapping_place(
    client: TestClient, test_db: TestDatabase, image: Path, data_dir: Path, prefix: str
) -> dict[str, Any]:
    """An UNCLASSIFIED project with ``image`` cut into overlapping chips, an analyst cleared TOP SECRET and a
    reader cleared CONFIDENTIAL (names, and ``headers`` / ``reader_headers`` with their tokens)."""
    project = make_project(test_db, "UNCLASSIFIED")
    analyst = make_user(test_db, unique(prefix), "TS", "USA")
    reader = make_user(test_db, unique(f"{prefix}r"), "C", "USA")
    for person in (analyst, reader):
        add_member(test_db, project, person)
    image_id = ingest(test_db, project, image, data_dir, "UNCLASSIFIED", overlap=OVERLAP)
    headers = token(client, analyst)
    chips = client.get(f"/api/v1/chips?image={image_id}&limit=100", headers=headers).json()["items"]
    return {
        "project": project,
        "image": image_id,
        "analyst": analyst,
        "reader": reader,
        "headers": headers,
        "reader_headers": token(client, reader),
        "scene": Scene(image, chips),
        "chips": chips,
    }


def draw(
    client: TestClient, place: dict[str, Any], chip: tuple[int, int], geometry: Any, **extra: Any
) -> str:
    """A vehicle (unless ``extra`` says otherwise) drawn by the place's analyst on the chip at those pixel
    offsets; its id."""
    body = {"chip_id": str(place["scene"].chips[chip]), "class": "vehicle", "geometry": geometry, **extra}
    response = client.post("/api/v1/annotations", headers=place["headers"], json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
