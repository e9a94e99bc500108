"""Model-assisted labeling (issue 13), part 1: models registered per project, and their predictions imported
from GeoJSON text sequences, FeatureCollections (any declared CRS), GeoParquet and COCO results (pixel
coordinates, geotransform and GCP images), each placed on one chip, marked, deduplicated, refused with a
reason, and never half-imported."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import rasterio
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping, shape
from sqlalchemy import select

from access_control import default_registry, parse_marking
from geo_label.callers import load_caller_by_name
from geo_label.db.models import CHIPS, PREDICTIONS
from geo_label.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from geo_label.predictions.importing import ImportOptions, ImportReport, import_predictions
from geo_label.predictions.registry import add_model, list_models
from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.service.scene import OVERLAP, SIZE, Scene
from tests.service.test_svc_access_support import audit_rows
from tests.world import add_member, ingest, make_project, make_user, unique

MODEL = "ships@1"


def act(test_db: TestDatabase, username: str, work: Any) -> Any:
    with test_db.database.sessions() as session:
        caller = load_caller_by_name(session, username)
    with test_db.as_caller(caller) as session:
        return work(session, caller)


@pytest.fixture
def place(test_db: TestDatabase, utm_image: Path, data_dir: Path) -> dict[str, Any]:
    """An UNCLASSIFIED project over the UTM image cut into overlapping chips; a manager cleared TOP SECRET,
    a labeler cleared CONFIDENTIAL, and the model ships@1 registered."""
    project = make_project(test_db, "UNCLASSIFIED")
    manager = make_user(test_db, unique("mgr"), "TS", "USA")
    labeler = make_user(test_db, unique("lab"), "C", "USA")
    add_member(test_db, project, manager, "manager")
    add_member(test_db, project, labeler, "labeler")
    image_id = ingest(test_db, project, utm_image, data_dir, "UNCLASSIFIED", size=SIZE, overlap=OVERLAP)
    act(test_db, manager, lambda s, c: add_model(s, c, project, name="ships", version="1"))
    with test_db.as_system() as session:
        chips = [
            dict(r) for r in session.execute(select(CHIPS).where(CHIPS.c.image_id == image_id)).mappings()
        ]
    return {
        "project": project,
        "image": image_id,
        "manager": manager,
        "labeler": labeler,
        "scene": Scene(utm_image, chips),
        "source": utm_image,
    }


def feature(
    geometry: dict[str, Any], label: Any = "vehicle", score: Any = 0.9, **props: Any
) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"class": label, "score": score, **props}}


def sequence(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def run(
    test_db: TestDatabase, place: dict[str, Any], path: Path, user: str | None = None, **options: Any
) -> ImportReport:
    options.setdefault("marking", parse_marking("UNCLASSIFIED"))
    return act(  # type: ignore[no-any-return]
        test_db,
        user or place["manager"],
        lambda s, c: import_predictions(
            s,
            c,
            project_id=place["project"],
            model=options.pop("model", MODEL),
            path=path,
            registry=default_registry(),
            options=ImportOptions(**options),
        ),
    )


def import_as(
    test_db: TestDatabase, user: str, project: uuid.UUID, path: Path, marking: str = "U", **options: Any
) -> ImportReport:
    """``path`` imported as predictions of ships@1 by ``user``, marked ``marking`` unless it says."""
    return act(  # type: ignore[no-any-return]
        test_db,
        user,
        lambda s, c: import_predictions(
            s,
            c,
            project_id=project,
            model=MODEL,
            path=path,
            registry=default_registry(),
            options=ImportOptions(marking=parse_marking(marking), **options),
        ),
    )


def stored(test_db: TestDatabase, project: uuid.UUID) -> list[dict[str, Any]]:
    with test_db.as_system() as session:
        rows = session.execute(
            select(PREDICTIONS).where(PREDICTIONS.c.project_id == project).order_by(PREDICTIONS.c.score)
        ).mappings()
        return [dict(r) for r in rows]


def test_models_are_registered_by_managers_once_per_version(
    test_db: TestDatabase, place: dict[str, Any]
) -> None:
    project, manager, labeler = place["project"], place["manager"], place["labeler"]
    act(test_db, manager, lambda s, c: add_model(s, c, project, name="ships", version="2", description="v2"))
    with pytest.raises(ConflictError):
        act(test_db, manager, lambda s, c: add_model(s, c, project, name="ships", version="1"))
    with pytest.raises(PermissionDeniedError):
        act(test_db, labeler, lambda s, c: add_model(s, c, project, name="ships", version="3"))
    with pytest.raises(InvalidInputError, match="letters, digits"):
        act(test_db, manager, lambda s, c: add_model(s, c, project, name="ships@x", version="3"))
    listed = act(
        test_db, labeler, lambda s, c: [f"{r['name']}@{r['version']}" for r in list_models(s, c, project)]
    )
    assert listed == ["ships@1", "ships@2"]
    outsider = make_user(test_db, unique("out"), "TS", "USA")
    with pytest.raises(NotFoundError):
        act(test_db, outsider, lambda s, c: list_models(s, c, project))
    assert audit_rows(test_db, "model.add", project_id=str(project))


def test_each_prediction_lands_on_exactly_one_chip(
    test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    scene: Scene = place["scene"]
    lines = [
        feature(scene.box(50, 50, 60, 60), score=0.1),  # inside chip (0, 0) only
        feature(scene.box(200, 50, 210, 60), score=0.2),  # in the overlap, nearer chip (0, 0)'s centre
        feature(scene.box(240, 50, 250, 60), score=0.3),  # in the overlap, nearer chip (0, 192)'s centre
        feature(scene.box(100, 50, 400, 60), score=0.4),  # held whole by no chip: most of it on (0, 192)
        feature({"type": "Point", "coordinates": list(scene.lonlat(300, 300))}, score=0.5),  # four chips
    ]
    report = run(test_db, place, sequence(tmp_path / "p.geojsonl", lines))
    assert (report.imported, report.refused_total, report.duplicates) == (5, 0, 0)
    rows = stored(test_db, place["project"])
    by_chip = {chip_id: offsets for offsets, chip_id in scene.chips.items()}
    assert [by_chip[row["chip_id"]] for row in rows] == [(0, 0), (0, 0), (0, 192), (0, 192), (192, 192)]
    whole = shape(lines[3]["geometry"])
    from geoalchemy2.shape import to_shape

    assert to_shape(rows[3]["geometry"]).equals_exact(whole, 1e-9)  # kept whole, not clipped
    assert {row["state"] for row in rows} == {"proposed"}
    assert all(row["image_id"] == place["image"] for row in rows)


def test_bad_records_are_refused_with_their_line_and_the_rest_imported(
    test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    scene: Scene = place["scene"]
    good = scene.box(50, 50, 60, 60)
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [
                scene.lonlat(10, 10),
                scene.lonlat(20, 20),
                scene.lonlat(20, 10),
                scene.lonlat(10, 20),
                scene.lonlat(10, 10),
            ]
        ],
    }
    lines = [
        feature(good),
        feature(good, label="tank"),
        feature(good, score=None),
        feature(good, score=1.5),
        feature(bowtie, label="building"),
        feature({"type": "Point", "coordinates": list(scene.lonlat(5, 5))}, label="building"),
        "{not json",
        {"type": "FeatureCollection", "features": []},
        feature({"type": "Point", "coordinates": [0.0, 0.0]}),
        feature(scene.box(70, 70, 80, 80), marking="(TS//SI)"),
        feature({"type": "Polygon", "coordinates": [[[1, 2]]]}),
    ]
    report = run(test_db, place, sequence(tmp_path / "bad.geojsonl", lines))
    assert report.imported == 1
    reasons = {r.index: r.reason for r in report.refused}
    assert sorted(reasons) == list(range(2, 12))
    assert "tank" in reasons[2] and "not one of this project's classes" in reasons[2]
    assert "no score" in reasons[3]
    assert "between 0 and 1" in reasons[4]
    assert "not a valid shape" in reasons[5] and "Self-intersection" in reasons[5]
    assert "Point is not allowed" in reasons[6]
    assert reasons[7].startswith("not JSON")
    assert reasons[8] == "not a GeoJSON Feature"
    assert "no chip" in reasons[9]
    assert "SI" in reasons[10] or "above your access" in reasons[10]
    assert "not valid GeoJSON" in reasons[11]


def test_importing_again_adds_nothing(test_db: TestDatabase, place: dict[str, Any], tmp_path: Path) -> None:
    scene: Scene = place["scene"]
    path = sequence(
        tmp_path / "p.geojsonl", [feature(scene.box(50, 50, 60 + i, 60), score=0.5) for i in range(5)]
    )
    first = run(test_db, place, path)
    again = run(test_db, place, path)
    assert (first.imported, first.duplicates) == (5, 0)
    assert (again.imported, again.duplicates) == (0, 5)
    assert len(stored(test_db, place["project"])) == 5
    twice = sequence(tmp_path / "twice.geojsonl", [feature(scene.box(90, 90, 99, 99))] * 2)
    once = run(test_db, place, twice)
    assert (once.imported, once.duplicates) == (1, 1)


def test_strict_refuses_the_whole_file_and_nothing_is_half_imported(
    test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    scene: Scene = place["scene"]
    lines = [feature(scene.box(50, 50, 60, 60)), feature(scene.box(50, 50, 60, 60), label="tank")]
    with pytest.raises(InvalidInputError, match=r"record 2: .*tank.*nothing was imported \(--strict\)"):
        run(test_db, place, sequence(tmp_path / "p.geojsonl", lines), strict=True)
    assert stored(test_db, place["project"]) == []


def test_a_file_without_a_marking_is_refused_whole(
    test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    scene: Scene = place["scene"]
    path = sequence(tmp_path / "p.geojsonl", [feature(scene.box(50, 50, 60, 60))] * 3)
    with pytest.raises(InvalidInputError, match=r"no marking.*--marking"):
        run(test_db, place, path, marking=None)
    assert stored(test_db, place["project"]) == []


def test_markings_join_the_file_the_record_and_the_chip(
    test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    scene: Scene = place["scene"]
    lines = [
        feature(scene.box(50, 50, 60, 60), score=0.1),
        feature(scene.box(70, 70, 80, 80), score=0.2, marking="(TS)"),
    ]
    report = run(
        test_db,
        place,
        sequence(tmp_path / "p.geojsonl", lines),
        marking=parse_marking("SECRET//REL TO USA, GBR"),
    )
    rows = stored(test_db, place["project"])
    assert [(r["classification"], r["rel_to"]) for r in rows] == [(2, ["GBR", "USA"]), (3, [])]
    assert report.banner is not None and report.banner.banner() == "TOP SECRET//NOFORN"
    assert audit_rows(test_db, "predictions.import", project_id=str(place["project"]))
    confidential = make_user(test_db, unique("cmgr"), "C", "USA")
    add_member(test_db, place["project"], confidential, "manager")
    with pytest.raises(InvalidInputError, match="above your access"):
        run(test_db, place, tmp_path / "p.geojsonl", user=confidential, marking=parse_marking("SECRET"))


def test_min_score_skips_and_counts(test_db: TestDatabase, place: dict[str, Any], tmp_path: Path) -> None:
    scene: Scene = place["scene"]
    lines = [feature(scene.box(50, 50, 60 + i, 60), score=i / 10) for i in range(10)]
    report = run(test_db, place, sequence(tmp_path / "p.geojsonl", lines), min_score=0.45)
    assert (report.imported, report.below_min_score, report.refused_total) == (5, 5, 0)


def test_a_feature_collection_in_a_projected_crs_is_reprojected(
    test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    with rasterio.open(place["source"]) as dataset:
        transform, crs = dataset.transform, dataset.crs
    x0, y0 = transform * (50, 50)
    x1, y1 = transform * (60, 60)
    collection = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": f"EPSG:{crs.to_epsg()}"}},
        "features": [feature(mapping(box(x0, y1, x1, y0)))],
    }
    path = tmp_path / "utm.geojson"
    path.write_text(json.dumps(collection))
    assert run(test_db, place, path).imported == 1
    row = stored(test_db, place["project"])[0]
    from geoalchemy2.shape import to_shape

    expected = shape(place["scene"].polygon([(50, 50), (60, 50), (60, 60), (50, 60)]))
    assert to_shape(row["geometry"]).symmetric_difference(expected).area < expected.area * 1e-6
    assert row["chip_id"] == place["scene"].chips[(0, 0)]


def test_geoparquet_with_its_crs(test_db: TestDatabase, place: dict[str, Any], tmp_path: Path) -> None:
    scene: Scene = place["scene"]
    frame = gpd.GeoDataFrame(
        {"class": ["vehicle", "vehicle"], "score": [0.7, 0.8]},
        geometry=[shape(scene.box(50, 50, 60, 60)), shape(scene.box(300, 300, 310, 310))],
        crs="EPSG:4326",
    ).to_crs(3857)
    path = tmp_path / "p.parquet"
    frame.to_parquet(path)
    report = run(test_db, place, path)
    assert (report.imported, report.format) == (2, "geoparquet")
    assert [r["chip_id"] for r in stored(test_db, place["project"])] == [
        scene.chips[(0, 0)],
        scene.chips[(192, 192)],
    ]


def test_coco_results_in_the_image_pixels(
    test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    results = [
        {"image_id": 7, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.9},
        {
            "image_id": 7,
            "category_id": 2,
            "bbox": [0, 0, 1, 1],
            "score": 0.8,
            "segmentation": [[300, 300, 320, 300, 320, 330, 300, 330]],
        },
        {"image_id": 7, "category_id": 9, "bbox": [0, 0, 1, 1], "score": 0.8},
    ]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    with pytest.raises(InvalidInputError, match="--image"):
        run(test_db, place, path)
    report = run(test_db, place, path, image_id=place["image"])
    assert report.imported == 2
    assert [r.index for r in report.refused] == [2]
    rows = {r["label_class"]: r for r in stored(test_db, place["project"])}
    from geoalchemy2.shape import to_shape

    expected = shape(place["scene"].polygon([(50, 50), (60, 50), (60, 60), (50, 60)]))
    assert to_shape(rows["vehicle"]["geometry"]).symmetric_difference(expected).area < expected.area * 1e-6
    building = shape(place["scene"].polygon([(300, 300), (320, 300), (320, 330), (300, 330)]))
    assert to_shape(rows["building"]["geometry"]).symmetric_difference(building).area < building.area * 1e-6
    several = tmp_path / "several.json"
    several.write_text(json.dumps([{**results[0], "image_id": 1}, {**results[0], "image_id": 2}]))
    with pytest.raises(InvalidInputError, match="several images"):
        run(test_db, place, several, image_id=place["image"])


def test_coco_results_on_a_gcp_image_go_through_its_gcps(
    test_db: TestDatabase, gcp_image: Path, data_dir: Path, tmp_path: Path
) -> None:
    project = make_project(test_db, "UNCLASSIFIED")
    manager = make_user(test_db, unique("mgr"), "S", "USA")
    add_member(test_db, project, manager, "manager")
    image_id = ingest(test_db, project, gcp_image, data_dir, "UNCLASSIFIED", size=128, overlap=0)
    act(test_db, manager, lambda s, c: add_model(s, c, project, name="ships", version="1"))
    path = tmp_path / "results.json"
    path.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [200, 150, 4, 4], "score": 0.5}]))
    report = act(
        test_db,
        manager,
        lambda s, c: import_predictions(
            s,
            c,
            project_id=project,
            model=MODEL,
            path=path,
            registry=default_registry(),
            options=ImportOptions(marking=parse_marking("U"), image_id=image_id),
        ),
    )
    assert report.imported == 1
    from geoalchemy2.shape import to_shape
    from rasterio.transform import GCPTransformer

    with rasterio.open(gcp_image) as dataset:
        gcps, _ = dataset.gcps
    lon, lat = GCPTransformer(gcps).xy(152, 202, offset="ul")
    centre = to_shape(stored(test_db, project)[0]["geometry"]).centroid
    assert abs(centre.x - lon) < 1e-6 and abs(centre.y - lat) < 1e-6


def test_an_image_named_by_the_record_or_the_option(
    test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    scene: Scene = place["scene"]
    lines = [
        feature(scene.box(50, 50, 60, 60), image_id=str(place["image"])),
        feature(scene.box(50, 50, 60, 60), image_id=str(uuid.uuid4())),
        feature(scene.box(50, 50, 60, 60), image_id="nope"),
    ]
    report = run(test_db, place, sequence(tmp_path / "p.geojsonl", lines))
    assert report.imported == 1
    reasons = [r.reason for r in report.refused]
    assert "not an image of this project" in reasons[0]
    assert "not an image id" in reasons[1]


def test_a_labeler_cannot_import(test_db: TestDatabase, place: dict[str, Any], tmp_path: Path) -> None:
    path = sequence(tmp_path / "p.geojsonl", [feature(place["scene"].box(50, 50, 60, 60))])
    with pytest.raises(PermissionDeniedError):
        run(test_db, place, path, user=place["labeler"])
    with pytest.raises(NotFoundError):
        run(test_db, place, path, model="ships@9")


def test_models_through_the_api(client: TestClient, test_db: TestDatabase, place: dict[str, Any]) -> None:
    base = f"/api/v1/projects/{place['project']}/models"
    manager, labeler = token(client, place["manager"]), token(client, place["labeler"])
    created = client.post(
        base, headers=manager, json={"name": "cars", "version": "0.3", "description": "cars"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["ref"] == "cars@0.3" and created.json()["marking"] == "UNCLASSIFIED"
    assert client.post(base, headers=manager, json={"name": "cars", "version": "0.3"}).status_code == 409
    assert client.post(base, headers=labeler, json={"name": "vans", "version": "1"}).status_code == 403
    assert client.post(base, headers=manager, json={"name": "a b", "version": "1"}).status_code == 422
    listed = client.get(base, headers=labeler)
    assert [m["ref"] for m in listed.json()] == ["cars@0.3", "ships@1"]
    assert client.get(f"{base}/cars@0.3", headers=labeler).json()["id"] == created.json()["id"]
    assert client.get(f"{base}/cars@9", headers=labeler).status_code == 404
    outsider = make_user(test_db, unique("out"), "TS", "USA")
    assert client.get(base, headers=token(client, outsider)).status_code == 404


def wait_for(client: TestClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(300):
        body: dict[str, Any] = client.get(url, headers=headers).json()
        if body["state"] != "running":
            return body
        time.sleep(0.1)
    raise AssertionError(f"the import at {url} did not end")


def test_an_upload_is_imported_in_the_background_and_followed(
    client: TestClient, test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    scene: Scene = place["scene"]
    lines = [feature(scene.box(50, 50, 60 + i, 60), score=0.5) for i in range(3)] + ["{broken"]
    body = sequence(tmp_path / "p.geojsonl", lines).read_bytes()
    base = f"/api/v1/projects/{place['project']}/predictions"
    manager = token(client, place["manager"])
    params = {"model": MODEL, "marking": "SECRET", "file_name": "p.geojsonl"}
    answer = client.post(base, params=params, content=body, headers=manager)
    assert answer.status_code == 202, answer.text
    assert answer.json()["state"] == "running" and answer.json()["file_bytes"] == len(body)
    done = wait_for(client, answer.headers["Location"], manager)
    assert done["state"] == "done", done
    assert (done["report"]["imported"], done["report"]["refused_total"], done["records"]) == (3, 1, 4)
    assert done["report"]["refused"][0]["index"] == 4
    listed = client.get(f"{base}/imports", headers=manager).json()
    assert listed[0]["id"] == done["id"]

    labeler = token(client, place["labeler"])
    assert client.get(answer.headers["Location"], headers=labeler).status_code == 404  # not theirs
    assert client.post(base, params=params, content=body, headers=labeler).status_code == 403
    assert client.post(base, params=params, content=b"", headers=manager).status_code == 422
    ghost = {**params, "model": "ghost@1"}
    assert client.post(base, params=ghost, content=body, headers=manager).status_code == 404

    unmarked_params = {"model": MODEL, "file_name": "q.geojsonl"}
    unmarked = client.post(base, params=unmarked_params, content=body, headers=manager)
    failed = wait_for(client, unmarked.headers["Location"], manager)
    assert failed["state"] == "failed" and "--marking" in failed["error"]
    assert len(stored(test_db, place["project"])) == 3
    leftovers = list((Path(client.app.state.geo_label.settings.spool_dir)).glob("predictions-*"))  # type: ignore[attr-defined]
    assert leftovers == []


def test_an_import_cut_short_by_a_stop_is_marked_failed_at_the_next_start_and_a_running_one_is_not(
    test_db: TestDatabase, place: dict[str, Any]
) -> None:
    from geo_label.predictions import jobs

    project = place["project"]
    row = act(
        test_db,
        place["manager"],
        lambda s, c: jobs.start_import(
            s, c, project_id=project, model=MODEL, file_name="p.geojsonl", file_bytes=10, options={}
        ),
    )
    running = act(
        test_db,
        place["manager"],
        lambda s, c: jobs.start_import(
            s, c, project_id=project, model=MODEL, file_name="q.geojsonl", file_bytes=10, options={}
        ),
    )
    # Another process is running the second import: it holds the import's lock in its transaction.
    with test_db.as_system() as importing:
        assert jobs.hold_import(importing, running["id"])
        with test_db.as_system() as session:
            assert jobs.abandon_running(session) >= 1
        still = act(test_db, place["manager"], lambda s, c: jobs.get_import(s, c, project, running["id"]))
        assert still["state"] == "running"
    ended = act(test_db, place["manager"], lambda s, c: jobs.get_import(s, c, project, row["id"]))
    assert (ended["state"], ended["error"]) == ("failed", jobs.INTERRUPTED)
    # A service starting before the import took its lock marked it failed: the import does not run.
    with test_db.as_system() as session:
        assert jobs.abandon_running(session) == 1
        assert not jobs.hold_import(session, running["id"])


def test_suggestions_are_accepted_edited_or_rejected_and_nothing_is_lost(
    client: TestClient, test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    scene: Scene = place["scene"]
    lines = [
        feature(scene.box(20, 20, 40, 40), score=0.9),
        feature(scene.box(60, 20, 80, 40), score=0.6),
        feature(scene.box(100, 20, 120, 40), score=0.3),
        feature(scene.box(140, 140, 160, 160), score=0.2),
        feature(scene.box(100, 100, 300, 120), score=0.8),  # across chips, most of it on (0, 0)
        feature(scene.box(20, 60, 40, 80), score=0.95, marking="(S)"),  # above the labeler's access
    ]
    run(test_db, place, sequence(tmp_path / "p.geojsonl", lines))
    chip = place["scene"].chips[(0, 0)]
    labeler = token(client, place["labeler"])
    listed = client.get(f"/api/v1/chips/{chip}/suggestions", headers=labeler)
    assert listed.status_code == 200, listed.text
    assert [s["score"] for s in listed.json()] == [0.9, 0.8, 0.6, 0.3, 0.2]  # best first; not the SECRET one
    assert listed.json()[0]["model"] == MODEL and listed.json()[0]["marking"] == "UNCLASSIFIED"
    above = client.get(f"/api/v1/chips/{chip}/suggestions", params={"min_score": 0.5}, headers=labeler).json()
    assert len(above) == 3
    best, across, second, third, fourth = (s["id"] for s in listed.json())

    accepted = client.post(f"/api/v1/predictions/{best}/accept", headers=labeler)
    assert accepted.status_code == 201, accepted.text
    annotation = accepted.json()
    assert (annotation["source"], annotation["prediction_id"], annotation["confidence"]) == (
        "model",
        best,
        0.9,
    )
    assert annotation["status"] == "draft"
    edited_shape = scene.box(62, 22, 82, 42)
    edited = client.post(
        f"/api/v1/predictions/{second}/accept",
        headers=labeler,
        json={"class": "building", "geometry": edited_shape},
    )
    assert edited.status_code == 201, edited.text
    assert edited.json()["class"] == "building"
    assert client.post(f"/api/v1/predictions/{third}/reject", headers=labeler).status_code == 204
    assert client.post(f"/api/v1/predictions/{third}/reject", headers=labeler).status_code == 409
    assert client.post(f"/api/v1/predictions/{third}/accept", headers=labeler).status_code == 409
    hidden = next(r["id"] for r in stored(test_db, place["project"]) if r["classification"] == 2)
    assert client.post(f"/api/v1/predictions/{hidden}/accept", headers=labeler).status_code == 404

    decided = client.get(
        f"/api/v1/chips/{chip}/suggestions",
        params={"state": ["accepted", "edited", "rejected"]},
        headers=labeler,
    ).json()
    assert {s["id"]: s["state"] for s in decided} == {best: "accepted", second: "edited", third: "rejected"}
    assert {s["id"]: s["annotation_id"] for s in decided}[best] == annotation["id"]

    patched = client.patch(
        f"/api/v1/annotations/{annotation['id']}",
        headers={**labeler, "If-Match": str(annotation["version"])},
        json={"geometry": scene.box(21, 21, 41, 41)},
    )
    assert patched.status_code == 200, patched.text
    states = {str(r["id"]): r["state"] for r in stored(test_db, place["project"])}
    assert states[best] == "edited" and states[fourth] == "proposed"

    everything = client.post(
        f"/api/v1/chips/{chip}/suggestions/accept", params={"min_score": 0}, headers=labeler
    )
    assert everything.status_code == 200 and everything.json()["accepted"] == 2
    taken = next(a for a in everything.json()["annotations"] if a["prediction_id"] == across)
    from geoalchemy2.shape import to_shape

    with test_db.as_system() as session:
        footprint = to_shape(
            session.execute(select(CHIPS.c.footprint).where(CHIPS.c.id == chip)).scalar_one()
        )
    clipped = shape(taken["geometry"])
    assert footprint.buffer(1e-9).covers(clipped) and clipped.area < shape(lines[4]["geometry"]).area
    assert audit_rows(test_db, "prediction.accept", project_id=str(place["project"]))
    assert audit_rows(test_db, "prediction.reject", project_id=str(place["project"]))

    # The export says which features a model suggested and whether a person changed them.
    exported = client.get(
        f"/api/v1/projects/{place['project']}/export",
        params={"merge": "false"},
        headers=token(client, place["manager"]),
    )
    assert exported.status_code == 200, exported.text
    provenance = {
        f["id"]: (f["properties"]["suggested_by"], f["properties"]["suggestion_edited"])
        for f in exported.json()["features"]
    }
    assert provenance[annotation["id"]] == (MODEL, True)  # accepted unchanged, then its shape changed
    assert provenance[edited.json()["id"]] == (MODEL, True)
    assert provenance[taken["id"]] == (MODEL, False)


def test_label_studio_predictions_in_the_image_pixels(
    test_db: TestDatabase, place: dict[str, Any], tmp_path: Path
) -> None:
    width, height = 1100, 900  # the UTM test image

    def region(kind: str, value: dict[str, Any], score: float | None = None) -> dict[str, Any]:
        out = {"type": kind, "value": value, "original_width": width, "original_height": height}
        return out if score is None else {**out, "score": score}

    def pct(x: float, y: float) -> dict[str, float]:
        return {"x": 100 * x / width, "y": 100 * y / height}

    results = [
        region(
            "rectanglelabels",
            {**pct(50, 50), "width": 1000 / width, "height": 1000 / height, "rectanglelabels": ["vehicle"]},
            0.9,
        ),
        region(
            "polygonlabels",
            {
                "points": [
                    [100 * x / width, 100 * y / height] for x, y in [(300, 300), (320, 300), (320, 330)]
                ],
                "polygonlabels": ["building"],
            },
        ),
        region(
            "rectanglelabels",
            {
                **pct(60, 120),
                "width": 1000 / width,
                "height": 2000 / height,
                "rotation": 90,
                "rectanglelabels": ["vehicle"],
            },
            0.4,
        ),
        region("brushlabels", {"format": "rle", "rle": [1, 2, 3], "brushlabels": ["vehicle"]}, 0.5),
    ]
    tasks = [
        {
            "data": {"image": "scene.tif"},
            "predictions": [{"model_version": "ships-1", "score": 0.7, "result": results}],
        }
    ]
    path = tmp_path / "label-studio.json"
    path.write_text(json.dumps(tasks))
    report = run(test_db, place, path, image_id=place["image"])
    assert (report.format, report.imported) == ("label-studio", 3)
    assert [(r.index, "brushlabels" in r.reason) for r in report.refused] == [(3, True)]
    rows = {r["score"]: r for r in stored(test_db, place["project"])}
    from geoalchemy2.shape import to_shape

    scene: Scene = place["scene"]
    expected = shape(scene.polygon([(50, 50), (60, 50), (60, 60), (50, 60)]))
    assert to_shape(rows[0.9]["geometry"]).symmetric_difference(expected).area < expected.area * 1e-6
    assert rows[0.7]["label_class"] == "building"  # the prediction's score, the region having none
    turned = shape(scene.polygon([(60, 120), (60, 130), (40, 130), (40, 120)]))  # 10 x 20, turned clockwise
    assert to_shape(rows[0.4]["geometry"]).symmetric_difference(turned).area < turned.area * 1e-6
    twice = tmp_path / "two-tasks.json"
    twice.write_text(json.dumps(tasks * 2))
    with pytest.raises(InvalidInputError, match="several tasks"):
        run(test_db, place, twice, image_id=place["image"])
