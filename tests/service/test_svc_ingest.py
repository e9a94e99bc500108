"""Ingest registers an image and its chips once per project, idempotently."""

from __future__ import annotations

from pathlib import Path

from tests.pg import TestDatabase
from tests.world import chip_ids, ingest, make_project


def test_same_image_in_two_projects_gets_chips_in_each(
    test_db: TestDatabase, rgb_image: Path, data_dir: Path
) -> None:
    """Regression: chip ids derived from the image alone collided across projects and the second project got
    no chips."""
    first, second = make_project(test_db), make_project(test_db)
    image_a = ingest(test_db, first, rgb_image, data_dir, "UNCLASSIFIED")
    image_b = ingest(test_db, second, rgb_image, data_dir, "UNCLASSIFIED")
    chips_a, chips_b = chip_ids(test_db, image_a), chip_ids(test_db, image_b)
    assert len(chips_a) == len(chips_b) > 0
    assert set(chips_a).isdisjoint(chips_b)
    assert ingest(test_db, first, rgb_image, data_dir, "UNCLASSIFIED") == image_a
    assert chip_ids(test_db, image_a) == chips_a, "a repeated ingest changes nothing"


def test_annotation_keeps_a_classified_chip_marking_without_rel() -> None:
    """Regression: the floor was the roll-up of the sources, which spells out NOFORN for a classified
    marking without REL, so "CONFIDENTIAL" on a "CONFIDENTIAL" chip was refused as lower than
    "CONFIDENTIAL//NOFORN"."""
    from access_control import UserAccess, parse_marking
    from geo_label.annotations import check_marking
    from geo_label.db.context import Caller

    caller = Caller(user_id=None, username="x", access=UserAccess.from_clearance("TS", citizenship="USA"))
    chip = parse_marking("CONFIDENTIAL")
    assert check_marking(caller, None, [chip, chip]) == chip
    assert check_marking(caller, parse_marking("CONFIDENTIAL"), [chip, parse_marking("UNCLASSIFIED")]) == chip
