"""Training datasets (issue 14): COCO read back by pycocotools, STAC validated offline, mask pixels against
the polygons, splits that share no pixel, and banners for several readers and a recipient."""

from __future__ import annotations

import io
import json
import os
import tarfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from fastapi.testclient import TestClient
from pycocotools.coco import COCO
from rasterio import features
from shapely.geometry import Polygon
from sqlalchemy import select

from access_control import default_registry
from geo_label.callers import load_caller_by_name
from geo_label.datasets.export import DatasetOutputError, DatasetSummary, export_dataset
from geo_label.datasets.formats import DatasetFormat, DatasetImages
from geo_label.datasets.splits import SplitPlan
from geo_label.datasets.stac_validation import validate_catalog
from geo_label.db.models import CHIPS
from geo_label.errors import PermissionDeniedError
from tests.pg import TestDatabase
from tests.service.scene import draw, overlapping_place

ALL_TRAIN = SplitPlan(fractions=(1.0,))
SQUARE = [(20, 30), (80, 30), (80, 70), (20, 70)]
OUTER = [(100, 100), (160, 100), (160, 160), (100, 160)]
HOLE = [(120, 120), (140, 120), (140, 140), (120, 140)]


@pytest.fixture
def place(client: TestClient, test_db: TestDatabase, utm_image: Path, data_dir: Path) -> dict[str, Any]:
    return overlapping_place(client, test_db, utm_image, data_dir, "ds")


def build(
    test_db: TestDatabase,
    username: str,
    project: uuid.UUID,
    out: Path,
    *formats: DatasetFormat,
    **options: Any,
) -> DatasetSummary:
    with test_db.database.sessions() as session:
        caller = load_caller_by_name(session, username)
    with test_db.as_caller(caller) as session:
        return export_dataset(
            session,
            caller,
            project_id=project,
            out=out,
            registry=default_registry(),
            formats=formats,
            **{"plan": ALL_TRAIN, **options},
        )


def shifted(pixels: list[tuple[float, float]], chip: tuple[int, int]) -> list[tuple[float, float]]:
    return [(col - chip[1], row - chip[0]) for col, row in pixels]


def draw_three(client: TestClient, place: dict[str, Any]) -> dict[str, str]:
    """On the first chip: a vehicle square, a building with a hole, a vehicle point."""
    scene = place["scene"]
    with_hole = scene.polygon(OUTER)
    with_hole["coordinates"].append(scene.polygon(HOLE)["coordinates"][0][::-1])
    return {
        "square": draw(client, place, (0, 0), scene.polygon(SQUARE)),
        "building": draw(client, place, (0, 0), with_hole, **{"class": "building"}),
        "point": draw(
            client, place, (0, 0), {"type": "Point", "coordinates": list(scene.lonlat(200.5, 20.5))}
        ),
    }


def test_coco_reads_back_with_pycocotools(
    client: TestClient, test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    ids = draw_three(client, place)
    out = tmp_path / "coco"
    summary = build(test_db, place["analyst"], place["project"], out, DatasetFormat.COCO)
    assert summary.labels == 3
    path = out / "annotations" / "instances_train.json"
    assert path.read_bytes().startswith(b'{"marking":"UNCLASSIFIED"')
    coco = COCO(str(path))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["vehicle", "building"]
    first = str(place["scene"].chips[(0, 0)])
    (image,) = [i for i in coco.dataset["images"] if i["chip_id"] == first]
    assert image["marking"] == "(U)"
    chip_file = out / "images" / image["file_name"]
    with rasterio.open(chip_file) as chip:
        assert (chip.width, chip.height) == (image["width"], image["height"])
    stored = next(c for c in place["chips"] if c["id"] == first)
    annotations = {a["label_id"]: a for a in coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))}
    assert set(annotations) == {ids["square"], ids["building"]}, "COCO has no points"
    square = annotations[ids["square"]]
    assert square["bbox"] == pytest.approx([20, 30, 60, 40], abs=0.02)
    assert coco.annToMask(square).sum() == pytest.approx(60 * 40, rel=0.03)
    building = annotations[ids["building"]]
    assert isinstance(building["segmentation"], dict), "a polygon with a hole is run-length encoded"
    expected = features.rasterize(
        [Polygon(OUTER, [HOLE])], out_shape=(image["height"], image["width"]), dtype="uint8"
    )
    assert np.array_equal(coco.annToMask(building), expected)
    assert building["area"] == pytest.approx(60 * 60 - 20 * 20, abs=1)
    assert building["marking"] == "(U)"
    report = json.loads((out / "report.json").read_text())
    assert report["formats"]["coco"]["left_out"] == {"Point": 1}
    assert stored["id"] == first


def test_chips_are_hard_links_and_nothing_half_written_on_failure(
    client: TestClient, test_db: TestDatabase, place: dict[str, Any], tmp_path: Path, data_dir: Path
) -> None:
    draw_three(client, place)
    out = tmp_path / "linked"
    build(test_db, place["analyst"], place["project"], out, DatasetFormat.COCO)
    first = str(place["scene"].chips[(0, 0)])
    with test_db.as_system() as session:
        chip_path = session.execute(select(CHIPS.c.path).where(CHIPS.c.id == uuid.UUID(first))).scalar_one()
    if os.stat(chip_path).st_dev == os.stat(out).st_dev:
        assert os.stat(out / "images" / f"{first}.tif").st_ino == os.stat(chip_path).st_ino
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    with pytest.raises(DatasetOutputError):
        build(test_db, place["analyst"], place["project"], taken, DatasetFormat.COCO)
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_stac_catalog_validates_offline(
    client: TestClient, test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    ids = draw_three(client, place)
    out = tmp_path / "stac"
    build(test_db, place["analyst"], place["project"], out, DatasetFormat.STAC, DatasetFormat.MASKS)
    validate_catalog(out)
    catalog = json.loads((out / "catalog.json").read_text())
    assert next(iter(catalog)) == "geolabel:banner"
    first = str(place["scene"].chips[(0, 0)])
    label = json.loads((out / "stac" / "labels" / f"{first}.json").read_text())
    properties = label["properties"]
    assert properties["label:type"] == "vector"
    assert properties["label:classes"] == [{"classes": ["vehicle", "building"], "name": "class"}]
    assert properties["label:overviews"][0]["counts"] == [
        {"name": "building", "count": 1},
        {"name": "vehicle", "count": 2},
    ]
    assert properties["geolabel:marking"] == "(U)"
    source = next(link for link in label["links"] if link["rel"] == "source")
    assert source["label:assets"] == ["image"]
    assert (out / "stac" / "labels" / source["href"]).resolve() == (out / "stac" / "chips" / f"{first}.json")
    chip_item = json.loads((out / "stac" / "chips" / f"{first}.json").read_text())
    assert chip_item["properties"]["proj:code"] == "EPSG:32633"
    assert chip_item["properties"]["proj:shape"] == [256, 256]
    assert chip_item["properties"]["gsd"] == pytest.approx(10.0, rel=1e-3)
    assert (out / "stac" / "chips" / chip_item["assets"]["image"]["href"]).resolve().is_file()
    labels = json.loads((out / "stac" / "labels" / f"{first}.geojson").read_text())
    assert {f["id"] for f in labels["features"]} == set(ids.values())
    assert all(f["properties"]["marking"] == "(U)" for f in labels["features"])


def test_mask_pixels_match_the_polygons(
    client: TestClient, test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    scene = place["scene"]
    draw_three(client, place)
    edge = max(scene.chips, key=lambda key: key[1])
    draw(client, place, edge, scene.polygon([(edge[1] + 10, 10), (edge[1] + 30, 10), (edge[1] + 30, 30)]))
    out = tmp_path / "masks"
    build(test_db, place["analyst"], place["project"], out, DatasetFormat.MASKS)
    first = str(scene.chips[(0, 0)])
    with (
        rasterio.open(out / "masks" / f"{first}.tif") as mask,
        rasterio.open(out / "images" / f"{first}.tif") as chip,
    ):
        assert mask.crs == chip.crs
        assert mask.transform.almost_equals(chip.transform)
        assert mask.nodata == 255
        pixels = mask.read(1)
    expected = np.zeros((256, 256), dtype=np.uint8)
    expected |= features.rasterize(
        [Polygon(OUTER, [HOLE])], out_shape=(256, 256), default_value=2, dtype="uint8"
    )
    expected[features.rasterize([Polygon(SQUARE)], out_shape=(256, 256), dtype="uint8") == 1] = 1
    expected[20, 200] = 1  # the point
    assert np.array_equal(pixels, expected)
    with rasterio.open(out / "masks" / f"{scene.chips[edge]}.tif") as mask:
        edge_pixels = mask.read(1)
    assert edge_pixels[15, 25] == 1
    assert (edge_pixels[:, 1100 - edge[1] :] == 255).all(), "past the image's edge: no data"
    assert (edge_pixels[:, : 1100 - edge[1]] != 255).all()


def test_splits_share_no_pixel_and_repeat_for_a_seed(
    client: TestClient, test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    scene = place["scene"]
    for row, col in scene.chips:
        draw(
            client,
            place,
            (row, col),
            scene.polygon([(col + 100, row + 100), (col + 120, row + 100), (col + 110, row + 120)]),
        )
    plan = SplitPlan(fractions=(0.5, 0.25, 0.25), seed=3, block=2)
    first = build(test_db, place["analyst"], place["project"], tmp_path / "a", DatasetFormat.YOLO, plan=plan)
    again = build(test_db, place["analyst"], place["project"], tmp_path / "b", DatasetFormat.YOLO, plan=plan)
    splits = json.loads((tmp_path / "a" / "splits.json").read_text())
    assert splits == json.loads((tmp_path / "b" / "splits.json").read_text())
    assert first.chips == again.chips
    windows = {str(c["id"]): (c["row_off"], c["col_off"], c["width"], c["height"]) for c in place["chips"]}
    placed = {chip: name for name, chips in splits.items() for chip in chips}
    assert len(placed) + first.guard == len(windows)
    assert sum(first.chips.values()) > 0
    for a, split_a in placed.items():
        for b, split_b in placed.items():
            if split_a != split_b:
                ra, ca, ha_w, ha_h = windows[a]
                rb, cb, hb_w, hb_h = windows[b]
                touching = ca <= cb + hb_w and cb <= ca + ha_w and ra <= rb + hb_h and rb <= ra + ha_h
                assert not touching, f"{a} ({split_a}) and {b} ({split_b}) share pixels"
    data = (tmp_path / "a" / "data.yaml").read_text()
    assert data.startswith("# UNCLASSIFIED\n")
    listed = (tmp_path / "a" / "train.txt").read_text().split()
    assert sorted(listed) == sorted(f"images/{chip}.tif" for chip in splits["train"])


def test_banners_follow_the_reader_and_a_recipient_is_refused(
    client: TestClient, test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    scene = place["scene"]
    releasable = draw(client, place, (0, 0), scene.polygon(SQUARE), marking="SECRET//REL TO USA, GBR")
    noforn = draw(
        client, place, (0, 192), scene.polygon(shifted(SQUARE, (0, -192))), marking="SECRET//NOFORN"
    )
    plain = draw(client, place, (192, 0), scene.polygon(shifted(SQUARE, (-192, 0))))
    cases = {
        "analyst": (place["analyst"], None, "SECRET//NOFORN", {releasable, noforn, plain}),
        "reader": (place["reader"], None, "UNCLASSIFIED", {plain}),
    }
    for case, (who, recipient, banner, expected) in cases.items():
        out = tmp_path / case
        summary = build(
            test_db, who, place["project"], out, DatasetFormat.STAC, DatasetFormat.COCO, recipient=recipient
        )
        assert summary.banner.banner() == banner, case
        assert (out / "MARKING.txt").read_text().splitlines()[0] == banner
        assert json.loads((out / "catalog.json").read_text())["geolabel:banner"] == banner
        coco = json.loads((out / "annotations" / "instances_train.json").read_text())
        assert coco["marking"] == banner
        assert {a["label_id"] for a in coco["annotations"]} == expected, case
        hidden = {releasable, noforn, plain} - expected
        for path in out.rglob("*"):
            if path.is_file() and path.suffix in (".json", ".geojson", ".csv", ".txt"):
                text = path.read_text()
                assert not any(label in text for label in hidden), f"{case}: {path.name} betrays a label"
    # Issue 15: a dataset for a partner nation waits for a release review of its own; until then, refused.
    with pytest.raises(PermissionDeniedError, match="foreign disclosure officer"):
        build(
            test_db, place["analyst"], place["project"], tmp_path / "gbr", DatasetFormat.STAC, recipient="GBR"
        )
    assert not (tmp_path / "gbr").exists() or not any((tmp_path / "gbr").iterdir())


def test_the_api_sends_the_dataset_as_a_tar_archive(
    client: TestClient, place: dict[str, Any], data_dir: Path
) -> None:
    draw_three(client, place)
    url = f"/api/v1/projects/{place['project']}/dataset?format=coco&format=masks&split=1"
    response = client.get(url, headers=place["headers"])
    assert response.status_code == 200, response.text
    assert response.headers["x-geolabel-banner"] == "UNCLASSIFIED"
    with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
        names = archive.getnames()
        root = f"dataset-{place['project']}"
        assert f"{root}/MARKING.txt" in names
        assert f"{root}/annotations/instances_train.json" in names
        assert any(name.startswith(f"{root}/masks/") for name in names)
        assert all(member.uid == 0 and not member.uname for member in archive.getmembers())
    assert not list((data_dir / "tmp").glob("dataset-*")), "the scratch folder is removed"
    bad = client.get(
        f"/api/v1/projects/{place['project']}/dataset?format=coco&split=0.5,0.6", headers=place["headers"]
    )
    assert bad.status_code == 422
    assert "add up to 1" in bad.json()["detail"]


def columnar_world(client: TestClient, place: dict[str, Any]) -> tuple[dict[str, str], str, str, str]:
    """The three labels, one object drawn on two overlapping chips (left, right) and a SECRET//NOFORN one."""
    scene = place["scene"]
    ids = draw_three(client, place)
    left = draw(client, place, (0, 0), scene.polygon([(200, 40), (240, 40), (240, 80), (200, 80)]))
    right = draw(client, place, (0, 192), scene.polygon([(201, 41), (241, 41), (241, 81), (201, 81)]))
    secret = draw(
        client, place, (192, 0), scene.polygon(shifted(SQUARE, (-192, 0))), marking="SECRET//NOFORN"
    )
    return ids, left, right, secret


def test_geoparquet_export_reads_back_with_geopandas(client: TestClient, place: dict[str, Any]) -> None:
    import geopandas
    import pyarrow.parquet as pq

    ids, left, right, secret = columnar_world(client, place)
    base = f"/api/v1/projects/{place['project']}/export"
    response = client.get(f"{base}?format=geoparquet", headers=place["headers"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    assert response.headers["x-geolabel-banner"] == "SECRET//NOFORN"
    data = io.BytesIO(response.content)
    metadata = pq.read_metadata(data).metadata
    assert metadata[b"geolabel:banner"] == b"SECRET//NOFORN"
    geo = json.loads(metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["encoding"] == "WKB"
    assert set(geo["columns"]["geometry"]["geometry_types"]) == {"Point", "Polygon"}
    frame = geopandas.read_parquet(io.BytesIO(response.content))
    assert frame.crs is not None and frame.crs.to_string() == "OGC:CRS84"
    by_id = {row["id"]: row for _, row in frame.iterrows()}
    assert set(by_id) == {*ids.values(), min(left, right), secret}, "the pair is one object"
    assert list(by_id[min(left, right)]["merged_from"]) == sorted([left, right])
    assert by_id[secret]["marking"] == "(S//NF)"
    assert json.loads(by_id[ids["building"]]["attributes"]) == {}
    geojson = client.get(base, headers=place["headers"]).json()
    assert geojson["feature_count"] == len(frame)
    plain = geopandas.read_parquet(
        io.BytesIO(client.get(f"{base}?format=geoparquet&merge=false", headers=place["headers"]).content)
    )
    assert len(plain) == len(frame) + 1
    reader = client.get(f"{base}?format=geoparquet", headers=place["reader_headers"])
    assert reader.headers["x-geolabel-banner"] == "UNCLASSIFIED"
    assert secret not in set(geopandas.read_parquet(io.BytesIO(reader.content))["id"])


def test_geopackage_export_as_gdal_reads_it(
    client: TestClient, place: dict[str, Any], tmp_path: Path, data_dir: Path
) -> None:
    """A GeoPackage of the same features and columns, the banner in gpkg_metadata (issue 22)."""
    import pyogrio

    from tiling.geopackage import read_banner

    ids, left, right, secret = columnar_world(client, place)
    base = f"/api/v1/projects/{place['project']}/export"
    response = client.get(f"{base}?format=gpkg", headers=place["headers"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geopackage+sqlite3"
    assert response.headers["content-disposition"].endswith('.gpkg"')
    assert response.headers["x-geolabel-banner"] == "SECRET//NOFORN"
    path = tmp_path / "labels.gpkg"
    path.write_bytes(response.content)
    assert read_banner(path) == "SECRET//NOFORN"
    frame = pyogrio.read_dataframe(path, layer="labels")
    assert frame.crs is not None and frame.crs.to_epsg() == 4326
    by_id = {row["id"]: row for _, row in frame.iterrows()}
    assert set(by_id) == {*ids.values(), min(left, right), secret}, "the pair is one object"
    assert json.loads(by_id[min(left, right)]["merged_from"]) == sorted([left, right])
    assert by_id[secret]["marking"] == "(S//NF)" and by_id[secret]["marking_banner"] == "SECRET//NOFORN"
    assert json.loads(by_id[ids["building"]]["attributes"]) == {}
    assert set(frame.geometry.geom_type) == {"Point", "Polygon"}
    reader = client.get(f"{base}?format=gpkg", headers=place["reader_headers"])
    assert reader.headers["x-geolabel-banner"] == "UNCLASSIFIED"
    path.write_bytes(reader.content)
    assert read_banner(path) == "UNCLASSIFIED"
    assert secret not in set(pyogrio.read_dataframe(path, layer="labels")["id"])
    # For a partner nation (issue 15): a release request, reviewed, and written as GeoJSON only.
    partner = client.get(f"{base}?format=gpkg&recipient=GBR", headers=place["headers"])
    assert partner.status_code == 422 and "geojson" in partner.json()["detail"]
    requested = client.get(f"{base}?recipient=GBR", headers=place["headers"])
    assert requested.status_code == 202 and requested.json()["features"] == len(by_id) - 1  # no NOFORN
    assert not list(data_dir.rglob("export-gpkg-*")), "the GeoPackage is built in a folder removed after"


def test_previews_as_the_images_for_rgb_models(
    client: TestClient, test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    draw_three(client, place)
    out = tmp_path / "previews"
    formats = (DatasetFormat.COCO, DatasetFormat.STAC)
    build(test_db, place["analyst"], place["project"], out, *formats, images=DatasetImages.PREVIEW)
    coco = json.loads((out / "annotations" / "instances_train.json").read_text())
    names = {image["file_name"] for image in coco["images"]}
    assert names and all(name.endswith(".jpg") for name in names)
    assert all((out / "images" / name).read_bytes().startswith(b"\xff\xd8") for name in names), "JPEG"
    first = str(place["scene"].chips[(0, 0)])
    item = json.loads((out / "stac" / "chips" / f"{first}.json").read_text())
    assert item["assets"]["image"]["type"] == "image/jpeg"
    assert (out / "stac" / "chips" / item["assets"]["image"]["href"]).resolve().is_file()
