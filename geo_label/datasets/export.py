"""Training datasets: a project's labels as STAC, COCO, masks or YOLO, split without leaking pixels.

Layout of the folder (``out``), whatever the formats::

    MARKING.txt      the banner of exactly what the dataset holds (first line)
    report.json      banner, counts per split and class, what each format left out
    splits.json      {"train": [chip ids], "val": [...], "test": [...]}
    chips.csv        chip id, split, image id, the chip's portion marking, number of labels
    images/          the chips' COGs (hard links when on the same file system, else copies), or previews
    catalog.json, stac/     STAC (geo_label.datasets.stac)
    annotations/     COCO (geo_label.datasets.coco)
    masks/           masks (geo_label.datasets.masks)
    labels/, data.yaml, {split}.txt   YOLO (geo_label.datasets.yolo)

Only what the caller may read (and, with a recipient, what is releasable to it) goes in: the chips and the
labels are selected with the same filters as every read, then each distinct marking is checked again here.
The folder is written under a temporary name beside ``out`` and renamed into place when whole, so a failed
export leaves nothing half-written. Every export is audited with its banner and counts.
"""

from __future__ import annotations

import csv
import errno
import itertools
import os
import shutil
import stat
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from sqlalchemy.orm import Session

from access_control import Marking, MarkingRegistry, can_read, releasable_to, roll_up
from geo_label import audit
from geo_label.annotations import STATUSES
from geo_label.datasets.coco import CocoWriter
from geo_label.datasets.formats import DatasetFormat, DatasetImages
from geo_label.datasets.items import Categories, ChipItem, DatasetContext, DatasetWriter
from geo_label.datasets.masks import MaskWriter
from geo_label.datasets.pixels import to_pixels
from geo_label.datasets.source import DatasetChip, DatasetLabel, dataset_chips, dataset_labels, with_features
from geo_label.datasets.splits import GUARD, GridChip, SplitPlan, assign_splits
from geo_label.datasets.stac import StacWriter
from geo_label.datasets.yolo import YoloWriter
from geo_label.db.context import Caller
from geo_label.errors import GeoLabelError, InvalidInputError, PermissionDeniedError, brief
from geo_label.exporting import check_recipient
from geo_label.projects import get_project
from geo_label.releases import needs_review

DEFAULT_PLAN = SplitPlan()


class DatasetOutputError(GeoLabelError):
    """The dataset's folder cannot be written where asked."""

    code = "dataset_output"


class DatasetRow(NamedTuple):
    """A chip of the dataset as ``chips.csv`` lists it."""

    chip_id: str
    split: str
    image_id: str
    marking: str
    labels: int


@dataclass(frozen=True)
class DatasetSummary:
    banner: Marking
    chips: dict[str, int]
    guard: int
    labels: int
    report: dict[str, Any]


def export_dataset(
    session: Session,
    caller: Caller,
    *,
    project_id: uuid.UUID,
    out: Path,
    registry: MarkingRegistry,
    formats: tuple[DatasetFormat, ...],
    plan: SplitPlan = DEFAULT_PLAN,
    statuses: tuple[str, ...] = (),
    recipient: str | None = None,
    images: DatasetImages = DatasetImages.COG,
) -> DatasetSummary:
    """Write the dataset to the folder ``out`` (which must not exist, or be empty) and audit it."""
    project = get_project(session, caller, project_id)
    country = check_recipient(recipient, registry)
    if needs_review(country):  # issue 15: a foreign release is reviewed first (geo_label.releases)
        raise PermissionDeniedError(
            "a dataset for a partner nation needs a foreign disclosure officer's review, which datasets do "
            "not have yet: release the labels with an export for the recipient (a release request)"
        )
    unknown = sorted(set(statuses) - set(STATUSES))
    if unknown:
        raise InvalidInputError(f"unknown status {brief(unknown[0])}: use {', '.join(STATUSES)}")
    if not formats:
        raise InvalidInputError("give at least one format: stac, coco, masks or yolo")
    categories = Categories(tuple(c["name"] for c in project["label_schema"]["classes"]))
    if DatasetFormat.MASKS in formats and len(categories.names) > 254:
        raise InvalidInputError("masks hold at most 254 classes (0 is background, 255 no data)")
    chips = dataset_chips(session, caller, project_id, country, statuses)
    split_of = assign_splits(
        [GridChip(c.id, c.image_id, c.row_off, c.col_off, c.width, c.height, c.stride) for c in chips], plan
    )
    exported_at = datetime.now(UTC)
    check = MarkingCheck(caller, country)
    with _building(out) as root:
        context = DatasetContext(
            root=root,
            project=project["name"],
            categories=categories,
            exported_by=caller.username,
            exported_at=exported_at,
            recipient=country,
            splits=plan.names,
        )
        (root / "images").mkdir()
        writers = _writers(context, formats, images)
        markings: set[Marking] = set()
        per_split: dict[str, Counter[str]] = {name: Counter() for name in plan.names}
        rows: list[DatasetRow] = []
        labels = dataset_labels(session, caller, project_id, country, statuses)
        if DatasetFormat.STAC in formats:
            labels = with_features(labels)
        for chip, chip_labels in _by_chip(chips, labels):
            split = split_of[chip.id]
            if split == GUARD:
                continue
            check(chip.marking)
            for label in chip_labels:
                check(label.marking)
            image_file = _place_image(chip, root / "images", images)
            marking = roll_up([chip.marking, *(label.marking for label in chip_labels)])
            markings.add(marking)
            item = ChipItem(
                chip=chip,
                split=split,
                image_file=image_file,
                labels=chip_labels,
                pixels=to_pixels(chip, [label.geometry for label in chip_labels]),
                marking=marking,
            )
            for writer in writers.values():
                writer.chip(item)
            per_split[split].update(label.label_class for label in chip_labels)
            rows.append(DatasetRow(chip.id, split, chip.image_id, chip.marking.portion(), len(chip_labels)))
        banner = roll_up(markings)
        report = _report(context, banner, plan, split_of, rows, per_split, statuses)
        report["formats"] = {fmt.value: writer.finish(banner) for fmt, writer in writers.items()}
        _write_files(root, context, banner, report, rows)
    audit.record(
        session,
        caller,
        "dataset.export",
        item_type="project",
        item_id=project_id,
        project_id=project_id,
        marking=banner,
        details={
            "banner": banner.banner(),
            "formats": [fmt.value for fmt in formats],
            "images": images.value,
            "recipient": country,
            "statuses": list(statuses),
            "chips": report["chips"],
            "labels": report["labels"],
            "guard": report["guard"],
            "split": {"fractions": list(plan.fractions), "seed": plan.seed, "block": plan.block},
        },
    )
    return DatasetSummary(
        banner=banner, chips=report["chips"], guard=report["guard"], labels=report["labels"], report=report
    )


class MarkingCheck:
    """Each distinct marking checked once against the caller's access and the recipient (the queries
    already filter by both: this is the second, independent check)."""

    def __init__(self, caller: Caller, recipient: str | None) -> None:
        self._caller = caller
        self._recipient = recipient
        self._seen: set[Marking] = set()

    def __call__(self, marking: Marking) -> None:
        if marking in self._seen:
            return
        if not can_read(self._caller.access, marking) or (
            self._recipient and not releasable_to(marking, self._recipient)
        ):
            raise InvalidInputError(
                "the dataset would hold an item above the reader's access; nothing written"
            )
        self._seen.add(marking)


def _writers(
    context: DatasetContext, formats: tuple[DatasetFormat, ...], images: DatasetImages
) -> dict[DatasetFormat, DatasetWriter]:
    media_type = (
        "image/jpeg"
        if images is DatasetImages.PREVIEW
        else "image/tiff; application=geotiff; profile=cloud-optimized"
    )
    writers: dict[DatasetFormat, DatasetWriter] = {}
    for fmt in dict.fromkeys(formats):
        if fmt is DatasetFormat.STAC:
            writers[fmt] = StacWriter(context, media_type, with_masks=DatasetFormat.MASKS in formats)
        elif fmt is DatasetFormat.COCO:
            writers[fmt] = CocoWriter(context)
        elif fmt is DatasetFormat.MASKS:
            writers[fmt] = MaskWriter(context)
        else:
            writers[fmt] = YoloWriter(context)
    return writers


def _by_chip(
    chips: list[DatasetChip], labels: Iterator[DatasetLabel]
) -> Iterator[tuple[DatasetChip, list[DatasetLabel]]]:
    """Each chip with its labels: both come in chip id order; labels of chips not in the dataset are passed
    over."""
    groups = itertools.groupby(labels, key=lambda label: label.chip_id)
    current = next(groups, None)
    for chip in chips:
        while current is not None and current[0] < chip.id:
            current = next(groups, None)
        if current is not None and current[0] == chip.id:
            yield chip, list(current[1])
            current = next(groups, None)
        else:
            yield chip, []


def _place_image(chip: DatasetChip, folder: Path, images: DatasetImages) -> str:
    """Hard-link the chip's file into ``folder`` (a copy across file systems); its name there."""
    source = Path(chip.preview_path if images is DatasetImages.PREVIEW else chip.path)
    name = f"{chip.id}{source.suffix or '.tif'}"
    try:
        info = os.lstat(source)
    except OSError:
        raise DatasetOutputError(f"the file of chip {chip.id} is missing: {source}") from None
    if not stat.S_ISREG(info.st_mode):
        raise DatasetOutputError(f"the file of chip {chip.id} is not a regular file: {source}")
    target = folder / name
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copyfile(source, target, follow_symlinks=False)
    return name


class _building:
    """The dataset's folder, built under a temporary name beside ``out`` and renamed into place when whole;
    removed on any failure."""

    def __init__(self, out: Path) -> None:
        self._out = out
        self._temp = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> Path:
        out = self._out
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise DatasetOutputError(f"{out} exists and is not an empty folder: give a new folder")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            self._temp.mkdir()
        except OSError as error:
            raise DatasetOutputError(f"cannot write a dataset in {out.parent}: {error.strerror}") from None
        return self._temp

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            return
        try:
            if self._out.exists():
                self._out.rmdir()
            os.rename(self._temp, self._out)
        except OSError as error:
            shutil.rmtree(self._temp, ignore_errors=True)
            raise DatasetOutputError(f"cannot put the dataset at {self._out}: {error.strerror}") from None


def _report(
    context: DatasetContext,
    banner: Marking,
    plan: SplitPlan,
    split_of: dict[str, str],
    rows: list[DatasetRow],
    per_split: dict[str, Counter[str]],
    statuses: tuple[str, ...],
) -> dict[str, Any]:
    chips = Counter(row.split for row in rows)
    return {
        "marking": banner.banner(),
        "project": context.project,
        "exported_by": context.exported_by,
        "exported_at": context.exported_at.isoformat(),
        "recipient": context.recipient,
        "statuses": list(statuses),
        "split": {
            "fractions": dict(zip(plan.names, plan.fractions, strict=True)),
            "seed": plan.seed,
            "block": plan.block,
        },
        "chips": {name: chips[name] for name in plan.names},
        "guard": sum(1 for split in split_of.values() if split == GUARD),
        "labels": sum(row.labels for row in rows),
        "classes": {name: dict(per_split[name]) for name in plan.names},
    }


def _write_files(
    root: Path,
    context: DatasetContext,
    banner: Marking,
    report: dict[str, Any],
    rows: list[DatasetRow],
) -> None:
    recipient = f", releasable to {context.recipient}" if context.recipient else ""
    (root / "MARKING.txt").write_text(
        f"{banner.banner()}\n"
        f"Training dataset of {context.project}, exported by {context.exported_by} on "
        f"{context.exported_at.isoformat()}"
        f"{recipient}. Every item carries its own portion marking.\n"
    )
    splits = {name: [row.chip_id for row in rows if row.split == name] for name in context.splits}
    (root / "splits.json").write_bytes(orjson.dumps(splits))
    (root / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    with (root / "chips.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(DatasetRow._fields)
        writer.writerows(rows)
