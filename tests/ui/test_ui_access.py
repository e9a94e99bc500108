"""No trace of what a labeler may not read: never a task, the same not-found page as a missing id, no
preview or marking of it on screen. And the banner follows what is on screen as it changes."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
from sqlalchemy import select

from geo_label import workflow
from geo_label.db.models import TASKS
from tests import pg
from tests.ui.browser import UiPage, sign_in
from tests.ui.conftest import UiWorld
from tests.ui.test_ui_labeling import API, BLUE, GREEN, RED, api_token, preview_requests, take_next_task
from tests.world import PASSWORD


def hidden_task(db: pg.TestDatabase, world: UiWorld) -> uuid.UUID:
    with db.as_system() as session:
        workflow.ensure_tasks(session, session.info["caller"], world.project)
    with db.as_system() as session:
        task: uuid.UUID = session.execute(
            select(TASKS.c.id).where(TASKS.c.chip_id.in_(world.confidential_chips)).limit(1)
        ).scalar_one()
        return task


def test_hidden_chip_leaves_no_trace(
    open_ui: Callable[[], UiPage], origin: str, ui_world: UiWorld, test_db: pg.TestDatabase
) -> None:
    task_id = hidden_task(test_db, ui_world)
    labeler = open_ui()
    sign_in(labeler, ui_world.users["other_labeler"], PASSWORD)
    labeler.goto(f"#/label/{task_id}")
    labeler.page.wait_for_selector("h1:has-text('Not found')")
    hidden_text = labeler.page.inner_text("main")
    assert labeler.banner()["background"] == GREEN and labeler.banner()["text"] == "UNCLASSIFIED"
    labeler.screenshot("06-not-found")
    labeler.goto(f"#/label/{uuid.uuid4()}")
    labeler.page.wait_for_selector("h1:has-text('Not found')")
    assert labeler.page.inner_text("main") == hidden_text
    labeler.goto(f"#/review/{task_id}")
    labeler.page.wait_for_selector("h1:has-text('Not found')")
    assert labeler.page.inner_text("main") == hidden_text
    assert not preview_requests(labeler) & {str(c) for c in ui_world.confidential_chips}

    # The queue never hands it out: take and skip until there is nothing left.
    headers = api_token(origin, ui_world.users["other_labeler"])
    seen: set[str] = set()
    for _ in range(8):
        response = httpx.post(f"{origin}{API}/projects/{ui_world.project}/tasks/next", headers=headers)
        if response.status_code == 204:
            break
        task = response.json()
        assert uuid.UUID(task["chip_id"]) not in ui_world.confidential_chips
        if task["id"] in seen:
            break
        seen.add(task["id"])
        httpx.post(f"{origin}{API}/tasks/{task['id']}/skip", headers=headers)


def test_banner_follows_what_is_drawn(open_ui: Callable[[], UiPage], ui_world: UiWorld) -> None:
    labeler = open_ui()
    sign_in(labeler, ui_world.users["secret_labeler"], PASSWORD)
    take_next_task(labeler)
    page = labeler.page
    # The CONFIDENTIAL scene is there (as the chip or as its context): the banner says so before any drawing.
    assert labeler.banner() == {
        "text": "CONFIDENTIAL//NOFORN",
        "background": BLUE,
        "colour": "rgb(255, 255, 255)",
    }
    choices = page.eval_on_selector_all("#marking option", "options => options.map(o => o.value)")
    assert "SECRET//NOFORN" in choices and "TOP SECRET//NOFORN" not in choices  # never above the labeler
    assert "UNCLASSIFIED" not in choices or choices[0] == "UNCLASSIFIED"  # the floor comes first

    page.select_option("#marking", "SECRET//NOFORN")
    page.click("[data-tool=Point]")
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#feature-count:has-text('1 features')")
    page.wait_for_function("() => document.getElementById('banner-top').textContent === 'SECRET//NOFORN'")
    assert labeler.banner() == {"text": "SECRET//NOFORN", "background": RED, "colour": "rgb(255, 255, 255)"}
    labeler.screenshot("07-banner-secret")

    page.keyboard.press("Control+z")  # undo the point: back to what the scene alone is marked
    page.wait_for_selector("#feature-count:has-text('0 features')")
    page.wait_for_function(
        "() => document.getElementById('banner-top').textContent === 'CONFIDENTIAL//NOFORN'"
    )
    page.keyboard.press("Control+y")
    page.wait_for_selector("#feature-count:has-text('1 features')")
    page.keyboard.press("Control+s")
    page.wait_for_selector("#status:has-text('Draft saved (1 changes)')")
    page.wait_for_function("() => document.getElementById('banner-top').textContent === 'SECRET//NOFORN'")
