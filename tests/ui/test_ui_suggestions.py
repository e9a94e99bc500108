"""A model's suggestions in the labeling view, in a real browser (issue 13, part 2): shown dashed with their
score above a threshold the labeler moves, accepted with a key (a draft annotation of the labeler's, on the
map at once), rejected with another, and accepted to edit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

from geoalchemy2.shape import to_shape
from shapely.geometry import box, mapping
from sqlalchemy import select

from access_control import default_registry, parse_marking
from geo_label.db.models import CHIPS, PREDICTIONS
from geo_label.predictions.importing import ImportOptions, import_predictions
from geo_label.predictions.registry import add_model
from tests import pg
from tests.rasters import utm_uint16
from tests.ui.browser import UiPage, sign_in
from tests.ui.conftest import CHIP
from tests.ui.test_ui_labeling import take_next_task
from tests.world import PASSWORD, add_member, caller, chip_ids, ingest, make_project, make_user, unique


def suggest(db: pg.TestDatabase, manager: str, project: uuid.UUID, chip: uuid.UUID, folder: Path) -> None:
    """Three suggestions of ships@1 on the chip, scored 0.9, 0.6 and 0.3, apart from each other."""
    with db.as_system() as session:
        west, south, east, north = to_shape(
            session.execute(select(CHIPS.c.footprint).where(CHIPS.c.id == chip)).scalar_one()
        ).bounds
    width, height = east - west, north - south

    def square(fx: float, fy: float) -> dict[str, object]:
        x, y = west + fx * width, south + fy * height
        return dict(mapping(box(x, y, x + 0.1 * width, y + 0.1 * height)))

    lines = [
        {"type": "Feature", "geometry": square(fx, 0.4), "properties": {"class": "vehicle", "score": score}}
        for fx, score in ((0.1, 0.9), (0.4, 0.6), (0.7, 0.3))
    ]
    path = folder / "ships.geojsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    who = caller(db, manager)
    with db.as_caller(who) as session:
        add_model(session, who, project, name="ships", version="1")
    with db.as_caller(who) as session:
        import_predictions(
            session,
            who,
            project_id=project,
            model="ships@1",
            path=path,
            registry=default_registry(),
            options=ImportOptions(marking=parse_marking("U")),
        )


def states(db: pg.TestDatabase, project: uuid.UUID) -> dict[float, str]:
    with db.as_system() as session:
        rows = session.execute(
            select(PREDICTIONS.c.score, PREDICTIONS.c.state).where(PREDICTIONS.c.project_id == project)
        )
        return {score: state for score, state in rows}


def test_suggestions_are_accepted_rejected_and_edited_with_keys(
    open_ui: Callable[[], UiPage], test_db: pg.TestDatabase, tmp_path: Path
) -> None:
    project = make_project(test_db, "UNCLASSIFIED", name=unique("ui-suggestions"))
    labeler = make_user(test_db, unique("sugg-labeler"), "UNCLASSIFIED")
    manager = make_user(test_db, unique("sugg-manager"), "UNCLASSIFIED")
    reviewer = make_user(test_db, unique("sugg-reviewer"), "UNCLASSIFIED")
    add_member(test_db, project, labeler, "labeler")
    add_member(test_db, project, manager, "manager")
    add_member(test_db, project, reviewer, "reviewer")
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    image = ingest(
        test_db, project, utm_uint16(tmp_path / "scene.tif", CHIP, CHIP, seed=31), data_dir, "U", size=CHIP
    )
    (chip,) = chip_ids(test_db, image)
    suggest(test_db, manager, project, chip, tmp_path)

    ui = open_ui()
    sign_in(ui, labeler, PASSWORD)
    task_id = take_next_task(ui)
    page = ui.page
    page.wait_for_selector("#map[data-suggestions='2']")  # 0.9 and 0.6 at the default threshold, 0.5
    assert page.get_attribute("#map", "data-suggestion") is not None
    page.wait_for_selector("[data-suggestion-count]:has-text('2 of 3 shown')")
    ui.screenshot("suggestions-01-shown")

    page.keyboard.press("a")  # the best one, accepted as it is
    page.wait_for_selector("#feature-count:has-text('1 features')")
    page.wait_for_selector("#map[data-suggestions='1']")
    for _ in range(6):  # threshold 0.5 -> 0.2: the 0.3 one shows
        page.keyboard.press("[")
    page.wait_for_selector("#map[data-suggestions='2']")
    page.keyboard.press("x")  # the current one is now the best shown, 0.6: rejected
    page.wait_for_selector("#map[data-suggestions='1']")
    page.keyboard.press("e")  # 0.3, accepted to edit: selected in the editor
    page.wait_for_selector("#feature-count:has-text('2 features')")
    page.wait_for_selector("#map[data-suggestions='0']")
    ui.screenshot("suggestions-02-decided")
    assert states(test_db, project) == {0.9: "accepted", 0.6: "rejected", 0.3: "accepted"}
    assert ui.banner()["text"] == "UNCLASSIFIED"

    # The reviewer sees where the work came from.
    page.click("[data-action=submit]")
    page.wait_for_url("**/#/queue")
    review = open_ui()
    sign_in(review, reviewer, PASSWORD)
    review.page.click(f"[data-review='{task_id}']")
    review.page.wait_for_selector("h2:has-text('Work (2 features)')")
    origins = review.page.locator(".work [data-origin]")
    assert origins.count() == 2
    assert "Suggested by ships@1" in origins.first.inner_text() and "unchanged" in origins.first.inner_text()
    review.page.click("[data-action=accept]")
    review.page.wait_for_url("**/#/queue")

    # The manager measures the model against what was accepted, beside another version.
    who = caller(test_db, manager)
    with test_db.as_caller(who) as session:
        add_model(session, who, project, name="ships", version="2")
    overview = open_ui()
    sign_in(overview, manager, PASSWORD)
    overview.goto(f"#/project/{project}")
    overview.page.wait_for_selector("#models")
    overview.page.select_option("#model-a", "ships@1")
    overview.page.select_option("#model-b", "ships@2")
    overview.page.click("[data-action=compare-models]")
    overview.page.wait_for_selector("#model-comparison svg[data-curves='2']")
    text = overview.page.inner_text("#model-comparison")
    assert "ships@1" in text and "ships@2" in text and "AP50" in text
    assert overview.page.locator("#model-comparison polyline[data-model='ships@1']").count() == 1
    overview.screenshot("suggestions-03-models")
