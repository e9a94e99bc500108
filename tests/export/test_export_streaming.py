"""Streaming: hundreds of thousands of features from a generator, in constant memory, at a useful rate."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely

from access_control import parse_marking
from geo_label.export.geojson import (
    GEOJSON_FORMATS,
    ExportFeature,
    ExportFormat,
    ExportHeader,
    ExportSummary,
    write_export,
)

HEADER = ExportHeader("harbour-survey", datetime(2024, 5, 1, tzinfo=UTC), "alice", "GBR")
MARKINGS = [
    parse_marking("SECRET//REL TO USA, AUS, GBR"),
    parse_marking("UNCLASSIFIED"),
    parse_marking("CONFIDENTIAL//REL TO USA, GBR"),
]
MB = 1 << 20


def labels(count: int, seed: int = 0) -> Iterator[ExportFeature]:
    """Simple box labels with the usual properties, made lazily as a database cursor would yield them."""
    rng = np.random.default_rng(seed)
    created = datetime(2024, 4, 1, tzinfo=UTC)
    for start in range(0, count, 5000):
        n = min(5000, count - start)
        x, y = rng.uniform(-179, 179, n), rng.uniform(-80, 80, n)
        boxes = shapely.box(x, y, x + 0.00123, y + 0.00098)
        for j in range(n):
            i = start + j
            yield ExportFeature(
                f"ann-{i:08d}",
                boxes[j],
                MARKINGS[i % 3],
                {
                    "class": "vehicle",
                    "attributes": {"color": "red", "occluded": False},
                    "image_id": f"img-{i // 1000}",
                    "chip_id": f"chip-{i // 50}",
                    "acquired_at": created,
                    "sensor": "WV3",
                    "labeler": "bob",
                    "reviewer": "carol",
                    "status": "approved",
                    "created_at": created + timedelta(seconds=i),
                    "updated_at": created + timedelta(seconds=i),
                },
            )


def traced_export(path: Path, count: int, fmt: ExportFormat) -> tuple[ExportSummary, int]:
    """The summary and the peak of Python heap (numpy included) allocated while writing, in bytes."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        with path.open("wb") as out:
            summary = write_export(labels(count), HEADER, out, fmt)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return summary, peak


@pytest.mark.slow
def test_200k_features_in_constant_memory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    count = 200_000
    small_summary, small_peak = traced_export(tmp_path / "small.geojson", count // 10, ExportFormat.GEOJSON)
    path = tmp_path / "big.geojson"
    summary, peak = traced_export(path, count, ExportFormat.GEOJSON)

    assert summary.count == count and small_summary.count == count // 10
    assert summary.banner.banner() == "SECRET//REL TO USA, GBR"
    assert peak < 50 * MB
    # Ten times the features, (almost) the same memory: it does not grow with the number of features.
    assert peak < small_peak + 4 * MB

    assert path.stat().st_size == summary.bytes_written
    with path.open("rb") as stream:
        header = json.loads(stream.readline()[: -len(b',"features":[\n')] + b"}")
        lines = sum(1 for _ in stream)
    assert header["feature_count"] == count
    assert header["banner"] == "SECRET//REL TO USA, GBR"
    assert lines == count + 1  # the features, then "]}"
    with capsys.disabled():
        print(
            f"\nexport of {count} features: peak traced memory {peak / MB:.1f} MiB "
            f"({small_peak / MB:.1f} MiB for {count // 10}), {summary.bytes_written / MB:.0f} MiB written"
        )


@pytest.fixture(scope="module")
def made_labels() -> list[ExportFeature]:
    """Labels made beforehand, so that the throughput test measures the writer alone."""
    return list(labels(200_000, seed=1))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(GEOJSON_FORMATS), ids=lambda fmt: fmt.value)
def test_throughput(
    tmp_path: Path, fmt: ExportFormat, made_labels: list[ExportFeature], capsys: pytest.CaptureFixture[str]
) -> None:
    count = len(made_labels)
    features = made_labels
    path = tmp_path / ("big.geojson" if fmt is ExportFormat.GEOJSON else "big.geojsons")
    start = time.perf_counter()
    with path.open("wb") as out:
        summary = write_export(features, HEADER, out, fmt)
    elapsed = time.perf_counter() - start
    assert summary.count == count
    # GDAL reads the whole file back (the sequence's header record is skipped).
    frame = pyogrio.read_dataframe(path, columns=["marking"], read_geometry=False)
    assert len(frame) == count
    assert frame["marking"].value_counts().to_dict() == {
        "(S//REL TO USA, AUS, GBR)": 66667,
        "(U)": 66667,
        "(C//REL TO USA, GBR)": 66666,
    }
    with capsys.disabled():
        print(f"\n{fmt.value}: {count / elapsed:,.0f} features/s ({elapsed:.2f} s for {count})")


def test_a_streamed_export_holds_the_same_features_as_a_spooled_one(tmp_path: Path) -> None:
    """Issue 21: the API's writer puts the banner (known beforehand) first and the count and bbox last; the
    features are the spooled writer's, byte for byte."""
    from access_control import roll_up
    from geo_label.export.geojson import StreamedExport

    banner = roll_up(MARKINGS)
    for fmt in GEOJSON_FORMATS:
        spooled = tmp_path / f"spooled.{fmt}"
        with spooled.open("wb") as out:
            summary = write_export(labels(3000), HEADER, out, fmt, spool_dir=tmp_path)
        stream = StreamedExport(labels(3000), HEADER, fmt, banner=banner)
        streamed = b"".join(stream.chunks())
        assert stream.count == summary.count == 3000 and stream.bbox == summary.bbox
        assert stream.markings == frozenset(MARKINGS)
        if fmt is ExportFormat.GEOJSON:
            spooled_body, streamed_body = json.loads(spooled.read_bytes()), json.loads(streamed)
            assert streamed_body["features"] == spooled_body["features"]
            assert streamed_body["banner"] == spooled_body["banner"] == banner.banner()
            assert list(streamed_body)[-2:] == ["feature_count", "bbox"]
        else:
            spooled_records = spooled.read_bytes().split(b"\x1e")[2:]
            streamed_records = streamed.split(b"\x1e")[2:-1]
            assert streamed_records == spooled_records
        assert len(pyogrio.read_dataframe(_written(tmp_path / f"streamed.{fmt}", streamed))) == 3000


def test_a_feature_above_the_declared_banner_stops_the_stream() -> None:
    from geo_label.export.geojson import ExportError, StreamedExport

    stream = StreamedExport(labels(10), HEADER, ExportFormat.GEOJSON, banner=parse_marking("UNCLASSIFIED"))
    with pytest.raises(ExportError, match="above the export's banner"):
        b"".join(stream.chunks())


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
