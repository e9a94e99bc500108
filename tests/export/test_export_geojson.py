"""The export writer's files: layout, markings, header, failures, determinism, and reading them back with GDAL
(pyogrio) and geopandas."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import LineString, Point, Polygon, box, shape
from shapely.geometry.base import BaseGeometry

from access_control import MarkingError, load_registry, parse_marking
from geo_label.export.geojson import (
    GEOJSON_FORMATS,
    ExportError,
    ExportFeature,
    ExportFormat,
    ExportHeader,
    ExportSummary,
    write_export,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HEADER = ExportHeader(project="harbour-survey", exported_at=NOW, exported_by="alice", recipient=None)
RS = b"\x1e"
SUFFIX = {ExportFormat.GEOJSON: "geojson", ExportFormat.GEOJSONSEQ: "geojsons"}
DRIVER = {ExportFormat.GEOJSON: "GeoJSON", ExportFormat.GEOJSONSEQ: "GeoJSONSeq"}


def feature(
    feature_id: str, geometry: BaseGeometry, marking: str = "UNCLASSIFIED", **extra: Any
) -> ExportFeature:
    properties: dict[str, Any] = {
        "class": "vessel",
        "attributes": {"length_m": 42.5, "moored": True},
        "image_id": "img-1",
        "chip_id": "chip-7",
        "acquired_at": datetime(2024, 4, 30, 9, 15, 30, tzinfo=UTC),
        "sensor": "WV3",
        "labeler": "bob",
        "reviewer": None,
        "status": "approved",
        "created_at": NOW - timedelta(days=1),
        "updated_at": NOW,
    }
    properties.update(extra)
    return ExportFeature(feature_id, geometry, parse_marking(marking), properties)


def sample_features() -> list[ExportFeature]:
    return [
        feature("f1", box(10.0, 20.0, 10.01, 20.01), "SECRET//REL TO USA, AUS, GBR"),
        feature("f2", Point(-3.5, 51.25), "UNCLASSIFIED", **{"class": "buoy"}),
        feature("f3", LineString([(0, 0), (0.5, 0.25), (1, 0)]), "CONFIDENTIAL//REL TO USA, GBR"),
    ]


def export(
    path: Path,
    features: list[ExportFeature],
    fmt: ExportFormat,
    header: ExportHeader = HEADER,
    **kwargs: Any,
) -> ExportSummary:
    with path.open("wb") as out:
        return write_export(features, header, out, fmt, **kwargs)


def read_records(data: bytes, fmt: ExportFormat) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(top-level or header record without its features, the features) parsed from the file's bytes."""
    if fmt is ExportFormat.GEOJSON:
        document = json.loads(data)
        return {k: v for k, v in document.items() if k != "features"}, document["features"]
    assert data.startswith(RS) and data.endswith(b"\n")
    texts = data.split(RS)[1:]
    assert all(text.endswith(b"\n") and text.count(b"\n") == 1 for text in texts)
    records = [json.loads(text) for text in texts]
    header = records[0]
    assert header["type"] == "FeatureCollection" and header["features"] == []
    return {k: v for k, v in header.items() if k != "features"}, records[1:]


@pytest.fixture(params=list(GEOJSON_FORMATS), ids=lambda fmt: fmt.value)
def fmt(request: pytest.FixtureRequest) -> ExportFormat:
    value: ExportFormat = request.param
    return value


def test_geojson_layout(tmp_path: Path) -> None:
    path = tmp_path / "out.geojson"
    summary = export(path, sample_features(), ExportFormat.GEOJSON)
    data = path.read_bytes()
    document = json.loads(data)
    assert list(document) == [
        "type",
        "banner",
        "name",
        "project",
        "exported_at",
        "exported_by",
        "recipient",
        "feature_count",
        "bbox",
        "features",
    ]
    assert document["type"] == "FeatureCollection"
    assert "crs" not in document
    assert document["banner"] == "SECRET//REL TO USA, GBR"  # S//REL TO USA, AUS, GBR + U + C//REL TO USA, GBR
    assert document["project"] == document["name"] == "harbour-survey"
    assert document["exported_at"] == "2024-05-01T12:00:00Z"
    assert document["exported_by"] == "alice"
    assert document["recipient"] is None
    assert document["feature_count"] == summary.count == 3
    assert document["bbox"] == pytest.approx([-3.5, 0.0, 10.01, 51.25])
    # The banner is on the first line, ahead of any content; then one feature per line.
    lines = data.split(b"\n")
    assert b'"banner":"SECRET//REL TO USA, GBR"' in lines[0]
    assert lines[0].startswith(b'{"type":"FeatureCollection","banner":')
    assert [json.loads(line.rstrip(b","))["id"] for line in lines[1:4]] == ["f1", "f2", "f3"]
    assert lines[4:] == [b"]}", b""]


def test_feature_layout_and_markings(tmp_path: Path, fmt: ExportFormat) -> None:
    path = tmp_path / f"out.{SUFFIX[fmt]}"
    export(path, sample_features(), fmt)
    _, features = read_records(path.read_bytes(), fmt)
    assert [f["id"] for f in features] == ["f1", "f2", "f3"]
    for record in features:
        assert list(record) == ["type", "id", "geometry", "properties"]
        assert record["type"] == "Feature"
        assert next(iter(record["geometry"])) == "type"
        assert "crs" not in record
    first = features[0]["properties"]
    assert first["marking"] == "(S//REL TO USA, AUS, GBR)"
    assert first["marking_banner"] == "SECRET//REL TO USA, AUS, GBR"
    assert features[1]["properties"]["marking"] == "(U)"
    assert features[1]["properties"]["marking_banner"] == "UNCLASSIFIED"
    assert features[2]["properties"]["marking"] == "(C//REL TO USA, GBR)"
    assert first == {
        "attributes": {"length_m": 42.5, "moored": True},
        "acquired_at": "2024-04-30T09:15:30Z",
        "chip_id": "chip-7",
        "class": "vessel",
        "created_at": "2024-04-30T12:00:00Z",
        "image_id": "img-1",
        "labeler": "bob",
        "marking": "(S//REL TO USA, AUS, GBR)",
        "marking_banner": "SECRET//REL TO USA, AUS, GBR",
        "reviewer": None,
        "sensor": "WV3",
        "status": "approved",
        "updated_at": "2024-05-01T12:00:00Z",
    }
    assert list(first) == sorted(first)
    assert shape(features[0]["geometry"]).equals(box(10.0, 20.0, 10.01, 20.01))
    assert features[1]["geometry"] == {"type": "Point", "coordinates": [-3.5, 51.25]}


def test_geojsonseq_layout(tmp_path: Path) -> None:
    path = tmp_path / "out.geojsons"
    summary = export(path, sample_features(), ExportFormat.GEOJSONSEQ)
    data = path.read_bytes()
    # RFC 8142: every record is RS, one JSON text, LF; the header record comes first.
    assert data.count(RS) == 4
    assert data.startswith(RS + b'{"type":"FeatureCollection","banner":"SECRET//REL TO USA, GBR"')
    header, features = read_records(data, ExportFormat.GEOJSONSEQ)
    assert header == {
        "type": "FeatureCollection",
        "banner": "SECRET//REL TO USA, GBR",
        "name": "harbour-survey",
        "project": "harbour-survey",
        "exported_at": "2024-05-01T12:00:00Z",
        "exported_by": "alice",
        "recipient": None,
        "feature_count": 3,
        "bbox": pytest.approx([-3.5, 0.0, 10.01, 51.25]),
    }
    assert summary.bbox == pytest.approx((-3.5, 0.0, 10.01, 51.25))
    assert [f["type"] for f in features] == ["Feature"] * 3


def test_read_back_with_gdal_and_geopandas(tmp_path: Path, fmt: ExportFormat) -> None:
    path = tmp_path / f"labels.{SUFFIX[fmt]}"
    features = sample_features()
    summary = export(path, features, fmt)

    info = pyogrio.read_info(path)
    assert info["driver"] == DRIVER[fmt]
    assert info["crs"] == "EPSG:4326"
    # GDAL's GeoJSONSeq fast count counts records, the header included (documented in the writer).
    assert info["features"] in {summary.count, summary.count + 1}
    assert {"id", "class", "marking", "marking_banner", "created_at"} <= set(info["fields"])

    for frame in (pyogrio.read_dataframe(path), gpd.read_file(path)):
        assert len(frame) == summary.count == 3
        assert frame.crs.to_epsg() == 4326
        assert list(frame["id"]) == ["f1", "f2", "f3"]
        assert list(frame["class"]) == ["vessel", "buoy", "vessel"]
        assert list(frame["marking"]) == ["(S//REL TO USA, AUS, GBR)", "(U)", "(C//REL TO USA, GBR)"]
        assert list(frame["marking_banner"]) == [
            "SECRET//REL TO USA, AUS, GBR",
            "UNCLASSIFIED",
            "CONFIDENTIAL//REL TO USA, GBR",
        ]
        assert list(frame["sensor"]) == ["WV3"] * 3
        assert frame["updated_at"].iloc[0] == NOW
        attributes = frame["attributes"].iloc[0]  # a JSON field: a dict or its text, by pyogrio version
        assert (json.loads(attributes) if isinstance(attributes, str) else attributes) == {
            "length_m": 42.5,
            "moored": True,
        }
        for got, sent in zip(frame.geometry, features, strict=True):
            assert got.equals(sent.geometry)


def test_gdal_reads_the_geojson_header_members(tmp_path: Path) -> None:
    path = tmp_path / "labels.geojson"
    export(path, sample_features(), ExportFormat.GEOJSON)
    assert pyogrio.read_info(path)["layer_name"] == "harbour-survey"
    _, bounds = pyogrio.read_bounds(path)
    assert bounds[0].tolist() == pytest.approx([10.0, -3.5, 0.0])  # xmin of each feature


@pytest.mark.parametrize(
    ("markings", "banner"),
    [
        (["SECRET//REL TO USA, AUS, GBR", "UNCLASSIFIED"], "SECRET//REL TO USA, AUS, GBR"),
        (["SECRET//REL TO USA, AUS, GBR", "UNCLASSIFIED", "CONFIDENTIAL//NOFORN"], "SECRET//NOFORN"),
        (["SECRET//REL TO USA, AUS, GBR", "UNCLASSIFIED", "UNCLASSIFIED//NOFORN"], "SECRET//NOFORN"),
        (["SECRET//REL TO USA, AUS", "CONFIDENTIAL//REL TO USA, GBR"], "SECRET//NOFORN"),
        (
            ["TOP SECRET//SI//REL TO USA, GBR", "SECRET//TK//REL TO USA, FVEY"],
            "TOP SECRET//SI/TK//REL TO USA, GBR",
        ),
        (["UNCLASSIFIED", "CUI"], "CUI"),
        (["UNCLASSIFIED"], "UNCLASSIFIED"),
    ],
)
def test_banner_is_the_roll_up_of_the_exported_features(
    tmp_path: Path, fmt: ExportFormat, markings: list[str], banner: str
) -> None:
    path = tmp_path / f"out.{SUFFIX[fmt]}"
    features = [feature(f"f{i}", Point(i, i), m) for i, m in enumerate(markings)]
    summary = export(path, features, fmt)
    assert summary.banner.banner() == banner
    header, records = read_records(path.read_bytes(), fmt)
    assert header["banner"] == banner
    assert [r["properties"]["marking"] for r in records] == [parse_marking(m).portion() for m in markings]


def test_empty_export(tmp_path: Path, fmt: ExportFormat) -> None:
    path = tmp_path / f"empty.{SUFFIX[fmt]}"
    summary = export(path, [], fmt)
    assert summary.count == 0
    assert summary.banner.banner() == "UNCLASSIFIED"
    assert summary.bbox is None
    header, records = read_records(path.read_bytes(), fmt)
    assert records == []
    assert header["banner"] == "UNCLASSIFIED"
    assert header["feature_count"] == 0
    assert "bbox" not in header  # RFC 7946 allows only an array there
    assert len(pyogrio.read_dataframe(path)) == 0


def test_features_without_geometry(tmp_path: Path, fmt: ExportFormat) -> None:
    path = tmp_path / f"unlocated.{SUFFIX[fmt]}"
    summary = export(path, [feature("f1", Polygon(), "SECRET//REL TO USA, GBR")], fmt)
    assert summary.bbox is None
    header, records = read_records(path.read_bytes(), fmt)
    assert "bbox" not in header
    assert records[0]["geometry"] is None
    assert header["banner"] == "SECRET//REL TO USA, GBR"
    frame = pyogrio.read_dataframe(path)
    assert list(frame["id"]) == ["f1"] and frame.geometry.iloc[0] is None


def test_recipient_and_releasability(tmp_path: Path, fmt: ExportFormat) -> None:
    header = ExportHeader("harbour-survey", NOW, "alice", "GBR")
    path = tmp_path / f"gbr.{SUFFIX[fmt]}"
    summary = export(path, sample_features(), fmt, header=header)
    top, _ = read_records(path.read_bytes(), fmt)
    assert top["recipient"] == "GBR"
    assert top["banner"] == summary.banner.banner() == "SECRET//REL TO USA, GBR"


@pytest.mark.parametrize(
    "marking", ["SECRET//NOFORN", "SECRET", "SECRET//REL TO USA, AUS", "UNCLASSIFIED//NOFORN"]
)
def test_feature_not_releasable_to_the_recipient_fails_closed(fmt: ExportFormat, marking: str) -> None:
    # The caller's filter should have dropped it; the writer refuses rather than drop it or write it.
    header = ExportHeader("harbour-survey", NOW, "alice", "GBR")
    features = [*sample_features(), feature("hidden", Point(1, 1), marking)]
    out = io.BytesIO()
    with pytest.raises(ExportError, match=r"'hidden'.*not releasable to GBR"):
        write_export(features, header, out, fmt)
    assert out.getvalue() == b""


@pytest.mark.parametrize("recipient", ["FVEY", "XYZ", "gbr", ""])
def test_recipient_must_be_a_registered_trigraph(recipient: str) -> None:
    header = ExportHeader("harbour-survey", NOW, "alice", recipient)
    out = io.BytesIO()
    with pytest.raises(MarkingError):
        write_export(sample_features(), header, out, ExportFormat.GEOJSON)
    assert out.getvalue() == b""


def test_recipient_known_only_to_the_deployment_registry(tmp_path: Path) -> None:
    text = (files("access_control") / "default_registry.toml").read_text(encoding="utf-8")
    path = tmp_path / "registry.toml"
    path.write_text(text.replace('"USA",\n', '"USA", "BRA",\n', 1), encoding="utf-8")
    registry = load_registry(path)
    header = ExportHeader("harbour-survey", NOW, "alice", "BRA")
    features = [feature("f1", Point(0, 0), "UNCLASSIFIED"), feature("f2", Point(1, 1), "UNCLASSIFIED")]
    with pytest.raises(MarkingError, match="BRA"):
        write_export(features, header, io.BytesIO(), ExportFormat.GEOJSON)
    out = io.BytesIO()
    summary = write_export(features, header, out, ExportFormat.GEOJSON, registry=registry)
    assert summary.count == 2 and json.loads(out.getvalue())["recipient"] == "BRA"
    secret = ExportFeature("f3", Point(2, 2), parse_marking("SECRET//REL TO USA, GBR", registry), {})
    with pytest.raises(ExportError, match="not releasable to BRA"):
        write_export([*features, secret], header, io.BytesIO(), ExportFormat.GEOJSON, registry=registry)


def test_usa_only_export_may_hold_noforn(tmp_path: Path) -> None:
    path = tmp_path / "out.geojson"
    summary = export(path, [feature("f1", Point(0, 0), "TOP SECRET//SI//NOFORN")], ExportFormat.GEOJSON)
    assert summary.banner.banner() == "TOP SECRET//SI//NOFORN"


def test_failure_part_way_writes_nothing(fmt: ExportFormat) -> None:
    def features() -> Iterator[ExportFeature]:
        for i in range(5000):
            yield feature(f"f{i}", Point(i % 180, 0))
        raise ConnectionError("cursor lost")

    out = io.BytesIO()
    with pytest.raises(ConnectionError):
        write_export(features(), HEADER, out, fmt)
    assert out.getvalue() == b""


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"marking": "(U)"}, "reserved"),
        ({"marking_banner": "UNCLASSIFIED"}, "reserved"),
        ({"created_at": datetime(2024, 5, 1, 12)}, "'bad': created_at is a naive datetime"),
        (
            {"attributes": {"seen": [datetime(2024, 5, 1, 12)]}},
            "'bad': a nested property is a naive datetime",
        ),
        ({"attributes": {1: "not a string key"}}, "cannot be written as JSON"),
        ({"blob": b"bytes"}, "cannot be written as JSON"),
        ({"huge": 2**70}, "cannot be written as JSON"),
    ],
)
def test_bad_properties_are_refused(properties: dict[str, Any], message: str) -> None:
    out = io.BytesIO()
    bad = ExportFeature("bad", Point(0, 0), parse_marking("U"), properties)
    with pytest.raises(ExportError, match=message):
        write_export([*sample_features(), bad], HEADER, out, ExportFormat.GEOJSON)
    assert out.getvalue() == b""


def test_bad_inputs_are_refused() -> None:
    out = io.BytesIO()
    with pytest.raises(ExportError, match="id"):
        write_export(
            [ExportFeature("", Point(0, 0), parse_marking("U"), {})], HEADER, out, ExportFormat.GEOJSON
        )
    with pytest.raises(ExportError, match="not a Marking"):
        write_export([ExportFeature("x", Point(0, 0), "U", {})], HEADER, out, ExportFormat.GEOJSON)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ExportFeature"):
        write_export([{"id": "x"}], HEADER, out, ExportFormat.GEOJSON)  # type: ignore[list-item]
    with pytest.raises(ExportError, match="naive"):
        write_export([], ExportHeader("p", datetime(2024, 5, 1), "alice", None), out, ExportFormat.GEOJSON)
    for precision in (-1, 16, 2.5, True):
        with pytest.raises(ValueError, match="precision"):
            write_export([], HEADER, out, ExportFormat.GEOJSON, precision=precision)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shapefile"):
        write_export([], HEADER, out, "shapefile")  # type: ignore[arg-type]
    assert out.getvalue() == b""


def test_datetimes_are_rfc3339_utc(tmp_path: Path) -> None:
    plus_two = timezone(timedelta(hours=2))
    path = tmp_path / "out.geojson"
    header = ExportHeader("p", datetime(2024, 5, 1, 14, 0, tzinfo=plus_two), "alice", None)
    export(
        path,
        [
            feature(
                "f1",
                Point(0, 0),
                created_at=datetime(2024, 5, 1, 14, 0, 0, 250000, tzinfo=plus_two),
                updated_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
                attributes={"seen": [datetime(2024, 1, 1, 1, 0, tzinfo=plus_two)], "day": "2024-01-01"},
            )
        ],
        ExportFormat.GEOJSON,
        header=header,
    )
    document = json.loads(path.read_bytes())
    assert document["exported_at"] == "2024-05-01T12:00:00Z"
    properties = document["features"][0]["properties"]
    assert properties["created_at"] == "2024-05-01T12:00:00.250000Z"
    assert properties["updated_at"] == "2024-05-01T12:00:00Z"
    assert properties["attributes"] == {"day": "2024-01-01", "seen": ["2023-12-31T23:00:00Z"]}


def test_output_is_deterministic_and_summarised(tmp_path: Path, fmt: ExportFormat) -> None:
    first, second, reordered = (tmp_path / f"{name}.{SUFFIX[fmt]}" for name in ("a", "b", "c"))
    summary = export(first, sample_features(), fmt)
    export(second, sample_features(), fmt)
    # The same properties given in another order, nested ones included, give the same bytes.
    shuffled = [
        ExportFeature(
            f.id,
            f.geometry,
            f.marking,
            {
                key: ({k: value[k] for k in reversed(list(value))} if isinstance(value, dict) else value)
                for key, value in reversed(list(f.properties.items()))
            },
        )
        for f in sample_features()
    ]
    export(reordered, shuffled, fmt)
    data = first.read_bytes()
    assert data == second.read_bytes() == reordered.read_bytes()
    assert summary.bytes_written == len(data)
    assert summary.sha256 == hashlib.sha256(data).hexdigest()


def test_writes_from_the_current_position_and_leaves_out_open() -> None:
    out = io.BytesIO()
    out.write(b"prefix")
    summary = write_export(sample_features(), HEADER, out, ExportFormat.GEOJSONSEQ)
    assert not out.closed
    assert out.getvalue().startswith(b"prefix" + RS)
    assert len(out.getvalue()) == len(b"prefix") + summary.bytes_written


def test_precision(tmp_path: Path, fmt: ExportFormat) -> None:
    path = tmp_path / f"out.{SUFFIX[fmt]}"
    polygon = Polygon([(10.123456789, 20.987654321), (10.2, 20.9876543), (10.15, 21.000000049)])
    export(path, [feature("f1", polygon), feature("f2", Point(-0.00000001, 1 / 3))], fmt)
    text = path.read_text()
    decimals = [len(m) for m in re.findall(r"-?\d+\.(\d+)", text.split('"features":', 1)[-1])]
    assert decimals and max(decimals) <= 7
    _, records = read_records(path.read_bytes(), fmt)
    assert records[0]["geometry"]["coordinates"][0][0] == [10.1234568, 20.9876543]
    assert records[1]["geometry"]["coordinates"] == [0.0, 0.3333333]  # no "-0.0"

    coarse = tmp_path / f"coarse.{SUFFIX[fmt]}"
    export(coarse, [feature("f1", polygon)], fmt, precision=2)
    _, records = read_records(coarse.read_bytes(), fmt)
    assert records[0]["geometry"]["coordinates"][0][0] == [10.12, 20.99]
