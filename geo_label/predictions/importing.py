"""Importing a model version's predictions as suggestions (issue 13, part 1).

A file is read a batch at a time (:mod:`geo_label.predictions.records`); each record is checked as a drawn
annotation is (class through the class map, score, shape: :mod:`geo_label.predictions.shapes`), placed on
one chip (:mod:`geo_label.predictions.placement`) and marked: the file's marking (``--marking``, else the
file's own banner, else the record's own portion marking; a file with none is refused) joined with the
record's own and with its chip's and project's markings, the floor. A marking above the caller's access or
the accredited maximum refuses the record.

Good records are COPYed, a batch at a time, into a temporary table (COPY cannot write to a table under
row-level security) and inserted from it by a statement that skips what this model version already has
(``record_key``: the image, class, score and shape), so importing a file again adds nothing; PostgreSQL
inserts a batch while the next is read (:class:`_StagedInserts`). It all happens in the caller's
transaction: a failure of the whole (a file that is not what it claims, a missing marking, ``--strict`` and
a bad record) leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from access_control import (
    Marking,
    MarkingError,
    MarkingRegistry,
    can_read,
    check_accredited,
    dominates,
    parse_marking,
)
from geo_label import audit
from geo_label.db.context import Caller
from geo_label.errors import InvalidInputError, brief
from geo_label.images import get_image
from geo_label.markings import joined, marking_columns, marking_of, marking_of_values
from geo_label.predictions.placement import ChipIndex
from geo_label.predictions.records import PredictionFile, PredictionFormat, RecordBatch, open_prediction_file
from geo_label.predictions.registry import find_model
from geo_label.predictions.shapes import Coordinates, check_shapes, to_wgs84
from geo_label.projects import get_project, require_project_role
from geo_label.workflow.config import load_workflow
from geo_label.workflow.ordering import order_queue

IMPORTER_ROLES = ("manager",)
#: Refusals listed one by one in a report; past this only counted (a file of a million bad records must
#: not make a report of a million lines).
MAX_LISTED_REFUSALS = 1000

CREATE_STAGING = """
CREATE TEMPORARY TABLE prediction_staging (
    chip_id uuid NOT NULL,
    image_id uuid NOT NULL,
    label_class text NOT NULL,
    geometry geometry NOT NULL,
    score double precision NOT NULL,
    record_key bytea NOT NULL,
    marking smallint NOT NULL
) ON COMMIT DROP;
CREATE TEMPORARY TABLE prediction_markings (
    marking smallint PRIMARY KEY,
    classification smallint NOT NULL,
    sci_controls text[] NOT NULL,
    dissemination text[] NOT NULL,
    rel_to text[] NOT NULL
) ON COMMIT DROP
"""

#: A batch's staged rows that are new to this model version, inserted (the row-level security policy checks
#: each: COPY cannot write to a table under it); the markings of what went in, with counts.
INSERT_STAGED = """
WITH inserted AS (
    INSERT INTO predictions (project_id, model_id, image_id, chip_id, label_class, geometry, score,
                             record_key, classification, sci_controls, dissemination, rel_to, derived_from,
                             marked_by, imported_by)
    SELECT %(project_id)s, %(model_id)s, s.image_id, s.chip_id, s.label_class, ST_SetSRID(s.geometry, 4326),
           s.score, s.record_key, m.classification, m.sci_controls, m.dissemination, m.rel_to,
           ARRAY['chip:' || s.chip_id::text, %(model_source)s], %(user_id)s, %(user_id)s
    FROM prediction_staging s JOIN prediction_markings m USING (marking)
    ON CONFLICT (model_id, record_key) DO NOTHING
    RETURNING classification, sci_controls, dissemination, rel_to
)
SELECT classification, sci_controls, dissemination, rel_to, count(*)
FROM inserted GROUP BY classification, sci_controls, dissemination, rel_to
"""


#: COPY's text format: a backslash, tab, newline or carriage return in a value is escaped.
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass(frozen=True)
class ImportOptions:
    """``--marking``, ``--class-map``, ``--min-score``, ``--strict``, ``--image`` and ``--format``."""

    marking: Marking | None = None
    class_map: dict[str, str] | None = None
    min_score: float = 0.0
    strict: bool = False
    image_id: uuid.UUID | None = None
    format: PredictionFormat | None = None


@dataclass(frozen=True)
class Refusal:
    index: int
    reason: str


@dataclass
class ImportReport:
    """What an import did: ``records`` read, ``imported`` new, ``duplicates`` already there (or twice in
    the file), ``below_min_score`` skipped, ``refused`` with reasons (the first
    :data:`MAX_LISTED_REFUSALS`; ``refused_total`` counts them all), and the banner of what went in."""

    model: str
    format: str
    records: int = 0
    imported: int = 0
    duplicates: int = 0
    below_min_score: int = 0
    refused: list[Refusal] = field(default_factory=list)
    refused_total: int = 0
    banner: Marking | None = None

    def refuse(self, index: int, reason: str) -> None:
        self.refused_total += 1
        if len(self.refused) < MAX_LISTED_REFUSALS:
            self.refused.append(Refusal(index, reason))

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "format": self.format,
            "records": self.records,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "below_min_score": self.below_min_score,
            "refused": [{"index": r.index, "reason": r.reason} for r in self.refused],
            "refused_total": self.refused_total,
            "banner": self.banner.banner() if self.banner else None,
        }


Progress = Callable[[int], None]


@dataclass
class _Classes:
    """The project's classes by name, in schema order (COCO category ids count from 1 in that order, as
    ``geo-label dataset export`` numbers them), and the class map."""

    types: dict[str, list[str]]
    ordered: list[str]
    class_map: dict[str, str] | None
    _resolved: dict[Any, tuple[str | None, str | None]] = field(default_factory=dict)

    def resolve(self, raw: Any) -> tuple[str | None, str | None]:
        """(class name, None) or (None, the reason it has none); each distinct value worked out once."""
        try:
            return self._resolved[raw]
        except KeyError:
            found = self._resolved[raw] = self._resolve(raw)
            return found
        except TypeError:  # not hashable (a list, an object): no class
            return self._resolve(raw)

    def _resolve(self, raw: Any) -> tuple[str | None, str | None]:
        if raw is None or isinstance(raw, bool) or not isinstance(raw, str | int | float):
            return None, "no class (a class, label or category_id property)"
        key = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw)
        if self.class_map is not None:
            if key not in self.class_map:
                return None, f"class {brief(key)} is not in the class map"
            key = self.class_map[key]
        elif isinstance(raw, int | float) and not isinstance(raw, bool):
            number = int(raw)
            if not 1 <= number <= len(self.ordered):
                return None, f"category {number} is not one of the project's {len(self.ordered)} classes"
            key = self.ordered[number - 1]
        if key not in self.types:
            return (
                None,
                f"class {brief(key)} is not one of this project's classes ({', '.join(self.ordered)})",
            )
        return key, None


@dataclass
class _Markings:
    """Record markings joined with the file's and the chip's, each distinct combination worked out once."""

    caller: Caller
    registry: MarkingRegistry
    file_marking: Marking | None
    project_marking: Marking
    _own: dict[str | None, Marking | str] = field(default_factory=dict)
    _copy_texts: dict[tuple[str | None, int], str] = field(default_factory=dict)
    numbers: dict[Marking, int] = field(default_factory=dict)
    new: list[tuple[int, Marking]] = field(default_factory=list)

    def of_record(self, text: str | None) -> Marking | str:
        """The record's marking before its chip's floor, or the reason it has none."""
        if text not in self._own:
            self._own[text] = self._record(text)
        return self._own[text]

    def _record(self, text: str | None) -> Marking | str:
        if text is None:
            if self.file_marking is None:
                raise InvalidInputError(
                    "the file carries no marking, nor do its records: give the file's marking (--marking, "
                    "or marking= in the API)"
                )
            return self.file_marking
        try:
            own = parse_marking(text, self.registry)
        except MarkingError as exc:
            return f"its marking {brief(text)} is not valid: {exc}"
        return own if self.file_marking is None else joined([self.file_marking, own])

    def copy_text(self, text: str | None, chip_number: int, chip_markings: list[Marking]) -> str:
        """The marking of a record (its own ``text``) on a chip (marking number ``chip_number``) as COPY
        text of the four marking columns, or NUL and the reason it cannot have one."""
        key = (text, chip_number)
        found = self._copy_texts.get(key)
        if found is None:
            record = self.of_record(text)
            if isinstance(record, str):
                found = "\0" + record
            else:
                marking = self._on_chip(record, chip_markings[chip_number])
                found = "\0" + marking if isinstance(marking, str) else str(self._number(marking))
            self._copy_texts[key] = found
        return found

    def _number(self, marking: Marking) -> int:
        number = self.numbers.get(marking)
        if number is None:
            number = self.numbers[marking] = len(self.numbers)
            self.new.append((number, marking))
        return number

    def take_new(self) -> list[tuple[int, Marking]]:
        """The markings numbered since the last call (the inserts add them to their table first)."""
        new, self.new = self.new, []
        return new

    def _on_chip(self, record: Marking, chip: Marking) -> Marking | str:
        """The record's marking on a chip marked ``chip``, or the reason it cannot have it."""
        floor = (chip, self.project_marking)
        # As a labeler's requested marking: kept when it dominates the floor, else joined with it.
        marking = record if all(dominates(record, f) for f in floor) else joined([record, *floor])
        refusal = _refusal(self.caller, self.registry, marking)
        return marking if refusal is None else f"its {refusal}"


def _refusal(caller: Caller, registry: MarkingRegistry, marking: Marking) -> str | None:
    """Why content so marked may not be imported by ``caller`` (above the accredited maximum, or above their
    access), or None."""
    try:
        check_accredited(marking, registry)
    except MarkingError as exc:
        return str(exc)
    if not can_read(caller.access, marking):
        return f"marking {marking.banner()} is above your access"
    return None


def _score(raw: Any) -> tuple[float | None, str | None]:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None, "no score (a number from 0 to 1)"
    score = float(raw)
    if not 0.0 <= score <= 1.0:
        return None, f"score {raw} is not between 0 and 1"
    return score, None


def _file_marking(
    caller: Caller, registry: MarkingRegistry, given: Marking | None, own: str | None
) -> Marking | None:
    marking = given
    if marking is None and own is not None:
        try:
            marking = parse_marking(own, registry)
        except MarkingError as exc:
            raise InvalidInputError(f"the file's marking {brief(own)} is not valid: {exc}") from None
    refusal = None if marking is None else _refusal(caller, registry, marking)
    if refusal is not None:
        raise InvalidInputError(f"the file's {refusal}")
    return marking


class _Importer:
    def __init__(
        self,
        session: Session,
        caller: Caller,
        *,
        project: Any,
        model: Any,
        source: PredictionFile,
        registry: MarkingRegistry,
        options: ImportOptions,
    ) -> None:
        self.session = session
        self.caller = caller
        self.model = model
        self.options = options
        self.report = ImportReport(model=f"{model['name']}@{model['version']}", format=source.format.value)
        schema = project["label_schema"].get("classes", [])
        self.classes = _Classes(
            types={c["name"]: list(c["geometry_types"]) for c in schema},
            ordered=[c["name"] for c in schema],
            class_map=options.class_map,
        )
        self.markings = _Markings(
            caller=caller,
            registry=registry,
            file_marking=_file_marking(caller, registry, options.marking, source.header.marking),
            project_marking=marking_of(project),
        )
        self.chips = ChipIndex.load(session, caller, project["id"], options.image_id)
        self.image_number = None if options.image_id is None else self.chips.image_number(options.image_id)
        self.coordinates: Coordinates | None = None
        if source.format.in_pixels:
            assert options.image_id is not None
            from imagery.pixels import pixel_to_lonlat  # rasterio: loaded only for pixel coordinates

            image = get_image(session, caller, options.image_id)
            self.coordinates = pixel_to_lonlat(Path(image["source_path"]))
        elif source.header.crs is not None:
            self.coordinates = to_wgs84(source.header.crs)

    def run_batch(self, batch: RecordBatch) -> str:
        """Check and place the batch's records; the good ones as COPY text."""
        report = self.report
        count = len(batch)
        report.records += count
        problems = list(batch.problem)
        labels: list[str | None] = [None] * count
        scores: list[float] = [0.0] * count
        skipped = [False] * count
        for i in range(count):
            if problems[i] is not None:
                continue
            labels[i], problems[i] = self.classes.resolve(batch.label[i])
            if problems[i] is not None:
                continue
            score, problems[i] = _score(batch.score[i])
            if score is not None:
                scores[i] = score
                if score < self.options.min_score:
                    skipped[i] = True
                    problems[i] = "below --min-score"
        wanted = [
            self.image_number if name is None else self._wanted_image(name, problems, i)
            for i, name in enumerate(batch.image)
        ]
        allowed = [self.classes.types.get(label) if label else None for label in labels]
        shapes = check_shapes(batch.geometry, allowed, problems, self.coordinates)
        chips = self.chips.place(shapes, wanted, problems)
        chip_markings = self.chips.marking_of[np.maximum(chips, 0)].tolist()
        rows: list[tuple[int, int, str]] = []
        for i in range(count):
            if skipped[i]:
                report.below_min_score += 1
                continue
            if problems[i] is None:
                marking = self.markings.copy_text(batch.marking[i], chip_markings[i], self.chips.markings)
                if marking.startswith("\0"):
                    problems[i] = marking[1:]
                else:
                    rows.append((i, int(chips[i]), marking))
                    continue
            self._refuse(batch.index[i], problems[i] or "")
        return self._lines(rows, labels, scores, shapes)

    def _wanted_image(self, named: str | None, problems: list[str | None], i: int) -> int | None:
        if named is None or problems[i] is not None:
            return self.image_number
        try:
            image_id = uuid.UUID(named)
        except ValueError:
            problems[i] = f"image_id {brief(named)} is not an image id"
            return None
        if self.options.image_id is not None and image_id != self.options.image_id:
            problems[i] = f"its image_id {image_id} is not the image the import is for"
            return None
        number = self.chips.image_number(image_id)
        if number is None:
            problems[i] = f"image {image_id} is not an image of this project that you may read"
        return number

    def _refuse(self, index: int, reason: str) -> None:
        if self.options.strict:
            raise InvalidInputError(f"record {index}: {reason}; nothing was imported (--strict)")
        self.report.refuse(index, reason)

    def _lines(
        self,
        rows: list[tuple[int, int, str]],
        labels: list[str | None],
        scores: list[float],
        shapes: list[Any],
    ) -> str:
        """The batch's good records as COPY text."""
        if not rows:
            return ""
        geometries: np.ndarray = np.empty(len(rows), dtype=object)
        geometries[:] = [shapes[i] for i, _, _ in rows]
        lines = []
        for (i, chip, marking), wkb in zip(rows, shapely.to_wkb(geometries, hex=True), strict=True):
            image_id = self.chips.image_text[self.chips.image_of[chip]]
            label = labels[i]
            assert label is not None
            score = repr(scores[i])
            key = hashlib.sha256(f"{image_id}\0{label}\0{score}\0{wkb}".encode()).hexdigest()
            lines.append(
                f"{self.chips.id_text[chip]}\t{image_id}\t{label.translate(COPY_ESCAPES)}\t{wkb}\t{score}\t"
                f"\\\\x{key}\t{marking}\n"
            )
        return "".join(lines)


class _StagedInserts:
    """Inserts batches of COPY text through the temporary table, on the session's own connection.

    It runs on a thread of its own, one batch behind the reader: PostgreSQL inserts a batch (row-level
    security, keys, indexes) while Python reads and checks the next (measured in benchmarks/predictions.py).
    The session is not used by anything else meanwhile."""

    def __init__(self, connection: Any, params: dict[str, Any]) -> None:
        self.connection = connection
        self.params = params
        self.staged = 0
        self.inserted: dict[tuple[Any, ...], int] = {}

    def insert(self, lines: str, markings: list[tuple[int, Marking]]) -> None:
        if not lines:
            return
        with self.connection.cursor() as cursor:
            for number, marking in markings:
                cursor.execute(
                    "INSERT INTO prediction_markings VALUES (%(number)s, %(classification)s, "
                    "%(sci_controls)s, %(dissemination)s, %(rel_to)s)",
                    {"number": number, **marking_columns(marking)},
                )
            with cursor.copy("COPY prediction_staging FROM STDIN") as copy:
                copy.write(lines)
            self.staged += cursor.rowcount
            cursor.execute(INSERT_STAGED, self.params)
            for *marking, count in cursor.fetchall():
                key = (marking[0], tuple(marking[1]), tuple(marking[2]), tuple(marking[3]))
                self.inserted[key] = self.inserted.get(key, 0) + count
            cursor.execute("TRUNCATE prediction_staging")


def import_predictions(
    session: Session,
    caller: Caller,
    *,
    project_id: uuid.UUID,
    model: str,
    path: Path,
    registry: MarkingRegistry,
    options: ImportOptions,
    progress: Progress | None = None,
    file_name: str | None = None,
) -> ImportReport:
    """Import ``path`` as predictions of ``model`` (NAME@VERSION or id) into the project, in the session's
    transaction (the caller commits). A manager's act, audited with its counts and banner."""
    project = get_project(session, caller, project_id)
    require_project_role(caller, project_id, *IMPORTER_ROLES)
    model_row = find_model(session, caller, project_id, model)
    source = open_prediction_file(path, options.format)
    if source.format.in_pixels and options.image_id is None:
        raise InvalidInputError(
            f"{source.format.value} positions are an image's pixel coordinates: say which image (--image, or "
            "image= in the API)"
        )
    if options.image_id is not None:
        get_image(session, caller, options.image_id)  # 404 alike for a hidden or missing image
    if not 0.0 <= options.min_score <= 1.0:
        raise InvalidInputError("--min-score must be between 0 and 1")
    importer = _Importer(
        session, caller, project=project, model=model_row, source=source, registry=registry, options=options
    )
    session.execute(text(CREATE_STAGING))
    connection = session.connection().connection.driver_connection
    assert connection is not None
    inserts = _StagedInserts(
        connection,
        {
            "project_id": project_id,
            "model_id": model_row["id"],
            "user_id": caller.user_id,
            "model_source": f"model:{model_row['id']}",
        },
    )
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prediction-inserts") as inserting:
        pending: Future[None] | None = None
        for batch in source.batches():
            lines = importer.run_batch(batch)
            if pending is not None:
                pending.result()  # one batch in flight: memory stays flat, errors surface at once
            pending = inserting.submit(inserts.insert, lines, importer.markings.take_new())
            if progress is not None:
                progress(importer.report.records)
        if pending is not None:
            pending.result()
    session.execute(text("DROP TABLE prediction_staging, prediction_markings"))
    report = importer.report
    report.imported = sum(inserts.inserted.values())
    report.duplicates = inserts.staged - report.imported
    markings = [marking_of_values(*key) for key in inserts.inserted]
    report.banner = joined(markings) if markings else None
    workflow = load_workflow(session, caller, project_id)
    if workflow.queue_model_id == model_row["id"]:  # the queue is in this model's order: with these too
        order_queue(session, workflow)
    audit.record(
        session,
        caller,
        "predictions.import",
        item_type="model",
        item_id=model_row["id"],
        project_id=project_id,
        marking=report.banner or marking_of(project),
        details={
            "file": file_name or path.name,
            "format": report.format,
            "records": report.records,
            "imported": report.imported,
            "duplicates": report.duplicates,
            "refused": report.refused_total,
            "below_min_score": report.below_min_score,
        },
    )
    return report
