"""The database export (features rendered by PostgreSQL, streamed by COPY) says exactly what the pure writer
says for the same annotations, in both geometry lanes: PostGIS's, and the writer's normaliser for geometries
that cross the antimeridian or that rounding spoils."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import LineString, Point, Polygon, box
from sqlalchemy import insert, select, text

from access_control import default_registry, parse_marking
from geo_label.db.context import Caller
from geo_label.db.models import ANNOTATIONS, IMAGES, USERS
from geo_label.export.geojson import ExportFeature, ExportFormat, ExportHeader, write_export
from geo_label.exporting import PRECISION, export_project
from geo_label.markings import marking_columns, marking_of
from tests.pg import TestDatabase
from tests.world import add_member, caller, chip_ids, ingest, make_project, make_user, unique

#: Geometries beyond what the service accepts from a client, inserted directly: the lanes must agree on all.
GEOMETRIES = {
    "polygon": box(10.1234567891, 45.1, 10.2, 45.2),
    "clockwise": Polygon([(10.0, 45.0), (10.0, 45.1), (10.1, 45.1), (10.1, 45.0)]),
    "holed": Polygon(
        [(11, 46), (11.5, 46), (11.5, 46.5), (11, 46.5)], [[(11.1, 46.1), (11.1, 46.2), (11.2, 46.2)]]
    ),
    "point": Point(12.123456789, 47.987654321),
    "line": LineString([(13.0, 48.0), (13.00000001, 48.0), (13.1, 48.1)]),  # a point lost to rounding
    "antimeridian": Polygon([(179.5, 10), (-179.5, 10), (-179.5, 11), (179.5, 11)]),
}
ATTRIBUTES = {"zeta": 1, "alpha": {"b": 'quote " back \\ slash\ttab', "a": [1.5, None, "é"]}, "mid": True}


def _insert(test_db: TestDatabase, project: uuid.UUID, image: uuid.UUID, chip: uuid.UUID, user: str) -> None:
    with test_db.as_system() as session:
        user_id = session.execute(select(USERS.c.id).where(USERS.c.username == user)).scalar_one()
        markings = ["UNCLASSIFIED", "SECRET//REL TO USA, GBR", "CONFIDENTIAL//NOFORN"]
        for i, (name, geometry) in enumerate(GEOMETRIES.items()):
            session.execute(
                insert(ANNOTATIONS).values(
                    project_id=project,
                    image_id=image,
                    chip_id=chip,
                    label_class=name,
                    attributes=ATTRIBUTES if i % 2 else {},
                    geometry=from_shape(geometry, srid=4326),
                    confidence=0.125 * i if i % 3 else None,
                    created_by=user_id,
                    updated_by=user_id,
                    created_at=datetime(2024, 5, 1, 12, 0, i, 250000 * (i % 2), tzinfo=UTC),
                    **marking_columns(parse_marking(markings[i % 3])),
                )
            )


def _reference(
    test_db: TestDatabase, reader: Caller, project: uuid.UUID, header: ExportHeader
) -> dict[str, Any]:
    """The pure writer's export of the same rows, built from ExportFeature objects."""
    with test_db.as_caller(reader) as session:
        query = select(ANNOTATIONS).where(ANNOTATIONS.c.project_id == project)
        rows = session.execute(query).mappings().all()
        users = dict(session.execute(select(USERS.c.id, USERS.c.username)).all())
        images = {row.id: row for row in session.execute(select(IMAGES)).all()}
    features = [
        ExportFeature(
            id=str(row["id"]),
            geometry=to_shape(row["geometry"]),
            marking=marking_of(row),
            properties={
                "class": row["label_class"],
                "attributes": row["attributes"],
                "image_id": str(row["image_id"]),
                "chip_id": str(row["chip_id"]),
                "acquired_at": images[row["image_id"]].acquired_at,
                "sensor": images[row["image_id"]].sensor,
                "labeler": users[row["created_by"]],
                "reviewer": users.get(row["reviewed_by"]),
                "status": row["status"],
                "source": row["source"],
                "confidence": row["confidence"],
                "suggested_by": None,
                "suggestion_edited": None,
                "version": row["version"],
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
            },
        )
        for row in sorted(rows, key=lambda r: r["id"])
    ]
    out = io.BytesIO()
    write_export(features, header, out, ExportFormat.GEOJSON, precision=PRECISION)
    parsed: dict[str, Any] = json.loads(out.getvalue())
    return parsed


def _comparable(collection: dict[str, Any]) -> list[dict[str, Any]]:
    """The features by id: an export writes the features near another chip after the rest (held back to be
    merged, geo_label.export.held), each part in id order."""
    out = []
    for feature in collection["features"]:
        properties = dict(feature["properties"])
        for key in ("created_at", "updated_at", "acquired_at"):
            if properties.get(key) is not None:
                properties[key] = datetime.fromisoformat(properties[key].replace("Z", "+00:00"))
        out.append({**feature, "properties": properties})
    return sorted(out, key=lambda feature: str(feature["id"]))


@pytest.mark.parametrize("fmt", [ExportFormat.GEOJSON, ExportFormat.GEOJSONSEQ])
def test_database_export_equals_the_writer(
    test_db: TestDatabase, utm_image: Path, tmp_path: Path, fmt: ExportFormat
) -> None:
    data_dir = tmp_path / "data"
    project = make_project(test_db, "UNCLASSIFIED")
    username = unique("lane")
    make_user(test_db, username, "S", "USA")
    add_member(test_db, project, username)
    image = ingest(test_db, project, utm_image, data_dir, "UNCLASSIFIED")
    _insert(test_db, project, image, chip_ids(test_db, image)[0], username)
    reader = caller(test_db, username)

    out = io.BytesIO()
    with test_db.as_caller(reader) as session:
        session.execute(text("SET LOCAL TimeZone = 'Asia/Kolkata'"))  # the export writes UTC all the same
        summary = export_project(
            session, reader, project_id=project, out=out, registry=default_registry(), fmt=fmt
        )
    written = out.getvalue().decode()
    if fmt is ExportFormat.GEOJSONSEQ:
        records = [json.loads(record) for record in written.split("\x1e") if record]
        got = {**records[0], "features": records[1:]}
    else:
        got = json.loads(written)
    header = ExportHeader(
        project=got["project"],
        exported_at=datetime.fromisoformat(got["exported_at"].replace("Z", "+00:00")),
        exported_by=got["exported_by"],
        recipient=None,
    )
    want = _reference(test_db, reader, project, header)

    assert summary.count == len(GEOMETRIES) == got["feature_count"]
    assert got["banner"] == want["banner"] == "SECRET//NOFORN"
    assert got["bbox"] == pytest.approx(want["bbox"], abs=1e-9)
    assert _comparable(got) == _comparable(want)
    classes = {f["properties"]["class"]: f for f in got["features"]}
    assert classes["antimeridian"]["geometry"]["type"] == "MultiPolygon"  # the writer's lane split it
    assert [10.1234568, 45.1] in classes["polygon"]["geometry"]["coordinates"][0]  # 7 decimals
    assert classes["polygon"]["properties"]["created_at"] == "2024-05-01T12:00:00+00:00"
