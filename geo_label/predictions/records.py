"""Prediction files read a batch at a time: memory is bounded by the batch, never by the file.

Formats (``--format``, or told from the name and the first bytes):

* ``geojsonseq``: GeoJSON text sequences (RFC 8142, one Feature per line, with or without the RS byte);
  a record's index is its line number.
* ``geojson``: a FeatureCollection, streamed (ijson); a record's index is its position in ``features``. The
  collection's ``crs`` (GeoJSON 2008; RFC 7946 files are longitude, latitude in WGS 84) and its
  ``banner``/``marking`` are read from the members before ``features``, where writers put them.
* ``geoparquet``: WKB geometries and the CRS of the file's ``geo`` metadata (OGC:CRS84 when it names
  none); a record's index is its row.
* ``coco``: COCO results (a JSON array of ``image_id``, ``category_id``, ``bbox``, ``segmentation``,
  ``score``) in the pixel coordinates of one image; polygons from ``segmentation``, else the ``bbox`` (an
  RLE mask is taken as its box). A record's index is its position in the array.

A feature's class is its ``class`` (or ``label_class``, ``label``, ``category``, ``category_id``) property,
its score ``score`` (or ``confidence``), its portion marking ``marking``, its image ``image_id``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
import shapely
import shapely.affinity
from pyproj import CRS

from geo_label.errors import InvalidInputError, brief

#: Records decoded, checked and written together: large enough for shapely's array functions to pay, small
#: enough that a batch's objects stay a few MiB.
BATCH_SIZE = 25_000
CLASS_KEYS = ("class", "label_class", "label", "category", "category_id")
SCORE_KEYS = ("score", "confidence")
SEQUENCE_SUFFIXES = (".geojsonl", ".geojsons", ".geojsonseq", ".jsonl", ".ndjson", ".jsonseq")
PARQUET_SUFFIXES = (".parquet", ".geoparquet")
RECORD_SEPARATOR = b"\x1e"


class PredictionFormat(enum.StrEnum):
    GEOJSONSEQ = "geojsonseq"
    GEOJSON = "geojson"
    GEOPARQUET = "geoparquet"
    COCO = "coco"
    LABEL_STUDIO = "label-studio"

    @property
    def in_pixels(self) -> bool:
        """Positions are an image's pixel coordinates (the import needs ``--image``)."""
        return self in (PredictionFormat.COCO, PredictionFormat.LABEL_STUDIO)


@dataclass
class RecordBatch:
    """Records as columns. ``geometry`` holds shapely geometries in the file's coordinates (``None`` where
    the record has none that parses); ``problem`` a reason to refuse the record, found while reading."""

    index: list[int] = field(default_factory=list)
    label: list[Any] = field(default_factory=list)
    score: list[Any] = field(default_factory=list)
    geometry: list[Any] = field(default_factory=list)
    marking: list[str | None] = field(default_factory=list)
    image: list[str | None] = field(default_factory=list)
    problem: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.index)

    def add(
        self,
        index: int,
        *,
        label: Any = None,
        score: Any = None,
        geometry: Any = None,
        marking: str | None = None,
        image: str | None = None,
        problem: str | None = None,
    ) -> None:
        self.index.append(index)
        self.label.append(label)
        self.score.append(score)
        self.geometry.append(geometry)
        self.marking.append(marking)
        self.image.append(image)
        self.problem.append(problem)


@dataclass(frozen=True)
class FileHeader:
    """What the file says of itself: its CRS (None: longitude, latitude in WGS 84, or pixels) and marking."""

    crs: CRS | None = None
    marking: str | None = None


def parse_class_map(text: str | bytes, what: str) -> dict[str, str]:
    """A class map (JSON: the file's class names or category ids to the project's class names); ``what``
    names it in the error (``--class-map FILE``, ``class_map``)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        example = '{"boat": "vessel", "3": "vessel"}'
        raise InvalidInputError(f"{what} must be a JSON object such as {example}")
    return {str(key): target for key, target in value.items()}


def detect_format(path: Path) -> PredictionFormat:
    """The format told from the file's name, then its first bytes."""
    suffix = path.suffix.lower()
    if suffix in SEQUENCE_SUFFIXES:
        return PredictionFormat.GEOJSONSEQ
    if suffix in PARQUET_SUFFIXES:
        return PredictionFormat.GEOPARQUET
    with path.open("rb") as stream:
        head = stream.read(65536)
    if head.startswith(b"PAR1"):
        return PredictionFormat.GEOPARQUET
    text = head.lstrip()
    if text.startswith(RECORD_SEPARATOR):
        return PredictionFormat.GEOJSONSEQ
    if text.startswith(b"["):
        return _array_format(text)
    if text.startswith(b"{"):
        first_line = text.split(b"\n", 1)[0]
        try:
            first = orjson.loads(first_line)
        except orjson.JSONDecodeError:
            return PredictionFormat.GEOJSON
        if isinstance(first, dict) and first.get("type") == "Feature":
            return PredictionFormat.GEOJSONSEQ
        return PredictionFormat.GEOJSON
    raise InvalidInputError(
        f"{path.name} is not a prediction file GeoLabel reads (GeoJSON, GeoJSON text sequence, GeoParquet, "
        "COCO results)"
    )


def _first(properties: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in properties:
            return properties[key]
    return None


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


class FeatureBatcher:
    """Collects GeoJSON Features (decoded dicts) into batches; geometries parsed by GEOS in one call."""

    def __init__(self) -> None:
        self.batch = RecordBatch()
        self._texts: list[str | bytes | None] = []

    def add(self, index: int, feature: Any, text: str | bytes | None = None) -> None:
        """``feature`` decoded; ``text``, the Feature's own JSON when at hand (GEOS reads the geometry
        straight from it, saving a re-encoding)."""
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            self.refuse(index, "not a GeoJSON Feature")
            return
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            properties = {}
        geometry = feature.get("geometry")
        has_geometry = isinstance(geometry, dict)
        self._texts.append((text if text is not None else orjson.dumps(geometry)) if has_geometry else None)
        self.batch.add(  # the geometry comes when the batch is taken, parsed all at once
            index,
            label=_first(properties, CLASS_KEYS),
            score=_first(properties, SCORE_KEYS),
            marking=_text_or_none(properties.get("marking")),
            image=_text_or_none(properties.get("image_id")),
            problem=None if has_geometry else "the feature has no geometry",
        )

    def refuse(self, index: int, problem: str) -> None:
        """A record that is no Feature at all."""
        self._texts.append(None)
        self.batch.add(index, problem=problem)

    def __len__(self) -> int:
        return len(self.batch)

    def take(self) -> RecordBatch:
        batch, texts = self.batch, self._texts
        self.batch, self._texts = RecordBatch(), []
        present = [i for i, text in enumerate(texts) if text is not None]
        if present:
            parsed = shapely.from_geojson(
                np.array([texts[i] for i in present], dtype=object), on_invalid="ignore"
            )
            for i, geometry in zip(present, parsed, strict=True):
                batch.geometry[i] = geometry
                if geometry is None:
                    batch.problem[i] = "the geometry is not valid GeoJSON"
        return batch


def _geojson_sequence(stream: IO[bytes]) -> Iterator[RecordBatch]:
    batcher = FeatureBatcher()
    for number, raw in enumerate(stream, start=1):
        line = raw.strip().lstrip(RECORD_SEPARATOR).strip()
        if not line:
            continue
        try:
            feature = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            batcher.refuse(number, f"not JSON: {exc.msg}")
        else:
            batcher.add(number, feature, line)
        if len(batcher) >= BATCH_SIZE:
            yield batcher.take()
    if len(batcher):
        yield batcher.take()


def _collection_header(path: Path) -> FileHeader:
    """The FeatureCollection's members before ``features``: its CRS and marking."""
    import ijson

    builder = ijson.ObjectBuilder()
    with path.open("rb") as stream:
        try:
            for prefix, event, value in ijson.parse(stream, use_float=True):
                if prefix == "" and event == "map_key" and value == "features":
                    break  # the members so far are the header; the features are streamed later
                builder.event(event, value)
        except ijson.JSONError as exc:
            raise InvalidInputError(f"{path.name} is not valid JSON: {brief(exc, 80)}") from None
    members = builder.value if isinstance(getattr(builder, "value", None), dict) else {}
    if members.get("type") != "FeatureCollection":
        raise InvalidInputError(f"{path.name} is not a GeoJSON FeatureCollection")
    marking = members.get("banner") or members.get("marking")
    return FileHeader(crs=_geojson_crs(members.get("crs")), marking=_text_or_none(marking))


def _geojson_crs(member: Any) -> CRS | None:
    if member is None:
        return None
    name = member.get("properties", {}).get("name") if isinstance(member, dict) else None
    if not isinstance(name, str):
        raise InvalidInputError('the file\'s "crs" member names no CRS (expected {"type": "name", ...})')
    return _crs(name)


def _crs(text: Any) -> CRS | None:
    try:
        crs = CRS.from_user_input(text)
    except Exception:  # pyproj raises CRSError, or TypeError for odd input
        raise InvalidInputError(f"the file declares a CRS GeoLabel cannot read: {brief(text, 80)}") from None
    return None if crs.equals(CRS.from_string("OGC:CRS84")) else crs


def _feature_collection(stream: IO[bytes]) -> Iterator[RecordBatch]:
    import ijson

    batcher = FeatureBatcher()
    try:
        for index, feature in enumerate(ijson.items(stream, "features.item", use_float=True)):
            batcher.add(index, feature)
            if len(batcher) >= BATCH_SIZE:
                yield batcher.take()
    except ijson.JSONError as exc:
        raise InvalidInputError(f"the file is not valid JSON: {brief(exc, 80)}") from None
    if len(batcher):
        yield batcher.take()


def _coco_geometry(result: dict[str, Any]) -> Any:
    segmentation = result.get("segmentation")
    if isinstance(segmentation, list) and segmentation and all(isinstance(s, list) for s in segmentation):
        rings = [np.asarray(s, dtype=float).reshape(-1, 2) for s in segmentation if len(s) >= 6]
        polygons = [shapely.Polygon(ring) for ring in rings]
        if len(polygons) == 1:
            return polygons[0]
        if polygons:
            return shapely.MultiPolygon(polygons)
    box = result.get("bbox")
    if isinstance(box, list) and len(box) == 4 and all(isinstance(v, int | float) for v in box):
        x, y, width, height = (float(v) for v in box)
        if width > 0 and height > 0:
            return shapely.box(x, y, x + width, y + height)
    return None


def _coco_results(stream: IO[bytes]) -> Iterator[RecordBatch]:
    import ijson

    batch = RecordBatch()
    images: set[Any] = set()
    try:
        for index, result in enumerate(ijson.items(stream, "item", use_float=True)):
            if not isinstance(result, dict):
                batch.add(index, problem="not a COCO result object")
            else:
                images.add(result.get("image_id"))
                if len(images) > 1:
                    ids = ", ".join(sorted(map(str, images)))
                    raise InvalidInputError(
                        f"the COCO results are for several images (image_id {ids}); import one image's "
                        "results at a time, with --image"
                    )
                geometry = _coco_geometry(result)
                batch.add(
                    index,
                    label=result.get("category_id"),
                    score=result.get("score"),
                    geometry=geometry,
                    marking=_text_or_none(result.get("marking")),
                    problem=None if geometry is not None else "no usable bbox or segmentation",
                )
            if len(batch) >= BATCH_SIZE:
                yield batch
                batch = RecordBatch()
    except ijson.JSONError as exc:
        raise InvalidInputError(f"the file is not valid JSON: {brief(exc, 80)}") from None
    if len(batch):
        yield batch


def _array_format(head: bytes) -> PredictionFormat:
    """A JSON array: Label Studio tasks (objects with ``predictions`` or ``data``), else COCO results."""
    import ijson

    try:
        first = next(ijson.items(head, "item", use_float=True), None)
    except ijson.JSONError:  # the head is cut mid-value: look for the keys in the text itself
        first = None
        if b'"predictions"' in head[:4096] or b'"data"' in head[:512]:
            return PredictionFormat.LABEL_STUDIO
    if isinstance(first, dict) and ("predictions" in first or "data" in first):
        return PredictionFormat.LABEL_STUDIO
    return PredictionFormat.COCO


def _region_geometry(region: dict[str, Any]) -> tuple[Any, Any, str | None]:
    """A Label Studio result region's (class, shape in pixels, problem)."""
    value = region.get("value")
    width, height = region.get("original_width"), region.get("original_height")
    if not isinstance(value, dict):
        return None, None, "a region without a value"
    if not all(isinstance(v, int | float) and v > 0 for v in (width, height)):
        return None, None, "a region without original_width and original_height"
    labels = next((v for k, v in value.items() if k.endswith("labels") and isinstance(v, list) and v), None)
    label = labels[0] if labels else None
    kind = region.get("type")
    sx, sy = float(width) / 100.0, float(height) / 100.0  # type: ignore[arg-type]
    try:
        if kind == "rectanglelabels":
            x, y = float(value["x"]) * sx, float(value["y"]) * sy
            box = shapely.box(x, y, x + float(value["width"]) * sx, y + float(value["height"]) * sy)
            angle = float(value.get("rotation") or 0.0)
            if angle:  # degrees clockwise on screen about the top-left corner: positive with rows down
                box = shapely.affinity.rotate(box, angle, origin=(x, y))
            return label, box, None
        if kind == "polygonlabels":
            points = [(float(px) * sx, float(py) * sy) for px, py in value["points"]]
            return label, shapely.Polygon(points), None
        if kind == "keypointlabels":
            return label, shapely.Point(float(value["x"]) * sx, float(value["y"]) * sy), None
    except (KeyError, TypeError, ValueError, shapely.errors.ShapelyError):
        return label, None, f"a {kind} region whose value GeoLabel cannot read"
    return label, None, f"{kind or 'untyped'} regions are not read (rectangles, polygons and keypoints are)"


def _label_studio(stream: IO[bytes]) -> Iterator[RecordBatch]:
    import ijson

    batch = RecordBatch()
    index = 0
    tasks_with_predictions = 0
    try:
        for task in ijson.items(stream, "item", use_float=True):
            predictions = task.get("predictions") if isinstance(task, dict) else None
            if not predictions:
                continue
            tasks_with_predictions += 1
            if tasks_with_predictions > 1:
                raise InvalidInputError(
                    "the Label Studio file has predictions for several tasks (images); import one image's "
                    "predictions at a time, with --image"
                )
            for prediction in predictions:
                if not isinstance(prediction, dict):
                    continue
                for region in prediction.get("result") or []:
                    label, geometry, problem = _region_geometry(region if isinstance(region, dict) else {})
                    score = region.get("score", prediction.get("score")) if isinstance(region, dict) else None
                    batch.add(index, label=label, score=score, geometry=geometry, problem=problem)
                    index += 1
                    if len(batch) >= BATCH_SIZE:
                        yield batch
                        batch = RecordBatch()
    except ijson.JSONError as exc:
        raise InvalidInputError(f"the file is not valid JSON: {brief(exc, 80)}") from None
    if len(batch):
        yield batch


def _parquet_header(path: Path) -> tuple[FileHeader, str, dict[str, str | None]]:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid or OSError for a file that is not Parquet
        raise InvalidInputError(f"{path.name} is not a Parquet file: {brief(exc, 80)}") from None
    raw = (schema.metadata or {}).get(b"geo")
    if raw is None:
        raise InvalidInputError(f"{path.name} is Parquet without GeoParquet's geo metadata")
    geo = orjson.loads(raw)
    column = geo.get("primary_column", "geometry")
    spec = geo.get("columns", {}).get(column, {})
    if spec.get("encoding", "WKB") != "WKB":
        raise InvalidInputError(f"{path.name}: only WKB-encoded GeoParquet geometries are read")
    crs = _crs(orjson.dumps(spec["crs"]).decode()) if spec.get("crs") is not None else None
    names = set(schema.names)
    columns = {
        "label": next((key for key in CLASS_KEYS if key in names), None),
        "score": next((key for key in SCORE_KEYS if key in names), None),
        "marking": "marking" if "marking" in names else None,
        "image": "image_id" if "image_id" in names else None,
    }
    marking = (schema.metadata or {}).get(b"geolabel:banner")
    return FileHeader(crs=crs, marking=marking.decode() if marking else None), column, columns


def _parquet_rows(path: Path, geometry_column: str, columns: dict[str, str | None]) -> Iterator[RecordBatch]:
    import pyarrow.parquet as pq

    wanted = [geometry_column, *(name for name in columns.values() if name)]
    start = 0
    for table in pq.ParquetFile(path).iter_batches(batch_size=BATCH_SIZE, columns=wanted):
        count = table.num_rows
        wkb = table.column(geometry_column).to_numpy(zero_copy_only=False)
        geometries = shapely.from_wkb(wkb, on_invalid="ignore")

        def values(key: str, count: int = count, table: Any = table) -> list[Any]:
            name = columns[key]
            return table.column(name).to_pylist() if name else [None] * count

        yield RecordBatch(
            index=list(range(start, start + count)),
            label=values("label"),
            score=values("score"),
            geometry=list(geometries),
            marking=[_text_or_none(v) for v in values("marking")],
            image=[_text_or_none(v) for v in values("image")],
            problem=[None if g is not None else "the geometry is not valid WKB" for g in geometries],
        )
        start += count


@dataclass
class PredictionFile:
    """An opened prediction file: its header, then its records batch by batch."""

    path: Path
    format: PredictionFormat
    header: FileHeader

    def batches(self) -> Iterator[RecordBatch]:
        if self.format is PredictionFormat.GEOPARQUET:
            _, column, columns = _parquet_header(self.path)
            yield from _parquet_rows(self.path, column, columns)
            return
        with self.path.open("rb") as stream:
            if self.format is PredictionFormat.GEOJSONSEQ:
                yield from _geojson_sequence(stream)
            elif self.format is PredictionFormat.GEOJSON:
                yield from _feature_collection(stream)
            elif self.format is PredictionFormat.LABEL_STUDIO:
                yield from _label_studio(stream)
            else:
                yield from _coco_results(stream)


def open_prediction_file(path: Path, fmt: PredictionFormat | None = None) -> PredictionFile:
    if not path.is_file():
        raise InvalidInputError(f"{path} is not a file")
    fmt = fmt or detect_format(path)
    if fmt is PredictionFormat.GEOPARQUET:
        header, _, _ = _parquet_header(path)
    elif fmt is PredictionFormat.GEOJSON:
        header = _collection_header(path)
    else:
        header = FileHeader()
    return PredictionFile(path=path, format=fmt, header=header)
