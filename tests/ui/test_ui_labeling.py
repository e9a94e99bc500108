"""The labeling flow in a real browser: a labeler draws a polygon and a point with the mouse, picks classes
and submits; a reviewer accepts; the export holds the features exactly where they were drawn. Along the way:
the banner's marking and colour, and that nothing the labeler may not read leaves a trace."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select

from geo_label.db.models import TASKS
from tests import pg
from tests.ui.browser import UiPage, sign_in
from tests.ui.conftest import UiWorld
from tests.ui.geo import ChipGeo, screen_point
from tests.world import PASSWORD

GREEN = "rgb(0, 122, 51)"
BLUE = "rgb(0, 51, 160)"
RED = "rgb(200, 16, 46)"
API = "/api/v1"


def api_token(origin: str, username: str) -> dict[str, str]:
    response = httpx.post(f"{origin}{API}/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def take_next_task(ui: UiPage) -> str:
    ui.page.click("[data-action=next-task]")
    ui.page.wait_for_url("**/#/label/*")
    ui.page.wait_for_function("() => document.getElementById('map')?.dataset.chipBox")
    return ui.page.url.rsplit("/", 1)[1]


def chip_of_task(db: pg.TestDatabase, task_id: str) -> uuid.UUID:
    with db.as_system() as session:
        chip: uuid.UUID = session.execute(
            select(TASKS.c.chip_id).where(TASKS.c.id == uuid.UUID(task_id))
        ).scalar_one()
        return chip


def map_geometry(ui: UiPage) -> tuple[dict[str, Any], list[float]]:
    box = ui.page.locator("#map").bounding_box()
    assert box is not None
    chip_box = json.loads(ui.page.eval_on_selector("#map", "el => el.dataset.chipBox"))
    return dict(box), chip_box


def preview_requests(ui: UiPage) -> set[str]:
    return {url.split("/chips/")[1].split("/")[0] for url in ui.recorder.urls if url.endswith("/preview")}


def test_label_review_export(
    open_ui: Callable[[], UiPage], origin: str, ui_world: UiWorld, test_db: pg.TestDatabase
) -> None:
    labeler = open_ui()
    labeler.goto("#/signin")
    assert labeler.banner() == {"text": "UNCLASSIFIED", "background": GREEN, "colour": "rgb(255, 255, 255)"}
    labeler.screenshot("01-sign-in")
    sign_in(labeler, ui_world.users["labeler"], PASSWORD)
    labeler.screenshot("02-queue")

    task_id = take_next_task(labeler)
    chip_id = chip_of_task(test_db, task_id)
    assert chip_id in ui_world.open_chips
    geo = ChipGeo.of(test_db, chip_id)
    page = labeler.page

    # A label drawn on the neighbouring chip that reaches onto this one is shown, read-only (issue 14).
    other = next(c for c in ui_world.open_chips if c != chip_id)
    label_across_the_edge(test_db, ui_world.users["manager"], other, chip_id)
    page.reload()
    page.wait_for_function("() => document.getElementById('map')?.dataset.chipBox")
    assert page.get_attribute("#map", "data-overlap-labels") == "1"

    # The building: class and attributes first, then three clicks and Enter.
    page.click("[data-class=building]")
    page.fill("#attr-floors", "3")
    page.select_option("#attr-use", "civil")
    page.click("[data-tool=Polygon]")
    box, chip_box = map_geometry(labeler)
    clicked: list[tuple[float, float]] = []
    for fx, fy in [(0.2, 0.2), (0.55, 0.25), (0.4, 0.55)]:
        (x, y), pixel = screen_point(box, chip_box, geo, fx, fy)
        page.mouse.move(x, y)
        page.mouse.click(x, y)
        page.wait_for_timeout(350)  # slower than a double click
        clicked.append(pixel)
    page.keyboard.press("Enter")
    page.wait_for_selector("#feature-count:has-text('1 features')")

    # The vehicle: a point, far from the polygon (no snapping to it).
    page.click("[data-class=vehicle]")
    page.click("[data-tool=Point]")
    (x, y), point_pixel = screen_point(box, chip_box, geo, 0.8, 0.85)
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_selector("#feature-count:has-text('2 features')")
    assert "MGRS 33T" in page.inner_text("#coords")  # the pointer's position, in MGRS too

    page.keyboard.press("?")
    page.wait_for_selector("#shortcut-help:not([hidden])")
    labeler.screenshot("04-shortcut-help")
    page.keyboard.press("Escape")
    labeler.screenshot("03-labeling")

    # Only what the labeler may read was shown: no CONFIDENTIAL context chip, and the banner says so.
    assert labeler.banner()["text"] == "UNCLASSIFIED" and labeler.banner()["background"] == GREEN
    shown = preview_requests(labeler)
    assert str(chip_id) in shown
    assert shown & {str(c) for c in ui_world.open_chips} == {str(c) for c in ui_world.open_chips}
    assert not shown & {str(c) for c in ui_world.confidential_chips}

    page.click("[data-action=submit]")
    page.wait_for_url("**/#/queue")
    page.wait_for_selector("h1:has-text('My queue')")
    # My recent work lists it, handed in: no longer a link to the labeling page.
    recent = page.wait_for_selector(f".recent-work [data-recent-task='{task_id}']")
    assert recent.evaluate("el => el.tagName") == "SPAN"

    # The reviewer (SECRET) sees the CONFIDENTIAL scene around the chip: the banner rolls it up.
    reviewer = open_ui()
    sign_in(reviewer, ui_world.users["reviewer"], PASSWORD)
    reviewer.page.click(f"[data-review='{task_id}']")
    reviewer.page.wait_for_selector("[data-action=accept]")
    reviewer.page.wait_for_selector("h2:has-text('Work (2 features)')")
    banner = reviewer.banner()
    assert banner["text"] == "CONFIDENTIAL//NOFORN" and banner["background"] == BLUE, banner
    assert preview_requests(reviewer) & {str(c) for c in ui_world.confidential_chips}
    # Every attribute of the work is on screen inside the panel: nothing cut off or scrolled out of view.
    floors = reviewer.page.locator(".work dt:text-is('floors') + dd")
    assert floors.inner_text() == "3" and reviewer.page.locator(".work dd:text-is('civil')").is_visible()
    overflow = reviewer.page.evaluate(
        "() => { const s = document.querySelector('.side'); return s.scrollWidth - s.clientWidth; }"
    )
    assert overflow <= 0, f"the review panel is {overflow} px too wide for its content"
    reviewer.screenshot("05-review")
    reviewer.page.click("[data-action=accept]")
    reviewer.page.wait_for_url("**/#/queue")

    # The export holds both features where they were drawn (within one chip pixel).
    response = httpx.get(
        f"{origin}{API}/projects/{ui_world.project}/export",
        headers=api_token(origin, ui_world.users["manager"]),
    )
    assert response.status_code == 200, response.text
    features = [f for f in response.json()["features"] if f["properties"]["chip_id"] == str(chip_id)]
    by_class = {f["properties"]["class"]: f for f in features}
    assert set(by_class) == {"building", "vehicle"}
    building = by_class["building"]
    assert building["properties"]["status"] == "accepted"
    assert building["properties"]["attributes"] == {"floors": 3, "use": "civil"}
    ring = building["geometry"]["coordinates"][0]
    assert len(ring) == 4 and ring[0] == ring[-1]
    # RFC 7946 rings are counter-clockwise: the export may start or run the other way round.
    vertices = [geo.pixel(lon, lat) for lon, lat in ring[:3]]
    for expected in clicked:
        nearest = min(vertices, key=lambda v: abs(v[0] - expected[0]) + abs(v[1] - expected[1]))
        assert_within_a_pixel(geo, geo.lonlat(*nearest), expected)
    assert_within_a_pixel(geo, by_class["vehicle"]["geometry"]["coordinates"], point_pixel)


def label_across_the_edge(db: pg.TestDatabase, username: str, on: uuid.UUID, onto: uuid.UUID) -> None:
    """A small box on chip ``on`` reaching its edge with chip ``onto``, near one end of that edge (clear of
    what the test draws)."""
    from geoalchemy2.shape import to_shape
    from shapely.geometry import box, mapping

    from geo_label.annotations import AnnotationInput, create_annotation
    from geo_label.db.models import CHIPS
    from tests.world import caller

    with db.as_system() as session:
        rows = dict(
            session.execute(select(CHIPS.c.id, CHIPS.c.footprint).where(CHIPS.c.id.in_([on, onto]))).all()
        )
    first, second = to_shape(rows[on]), to_shape(rows[onto])
    point = first.intersection(second).interpolate(0.9, normalized=True)
    side = (first.bounds[2] - first.bounds[0]) * 0.03
    # The test world's chips do not overlap: the box lies on its own chip and touches the shared edge.
    west, east = (
        (point.x - 2 * side, point.x)
        if first.centroid.x < second.centroid.x
        else (point.x, point.x + 2 * side)
    )
    who = caller(db, username)
    with db.as_caller(who) as session:
        create_annotation(
            session,
            who,
            AnnotationInput(
                chip_id=on,
                label_class="building",
                geometry=dict(mapping(box(west, point.y - side, east, point.y + side))),
            ),
        )


def assert_within_a_pixel(geo: ChipGeo, lonlat: Any, expected: tuple[float, float]) -> None:
    col, row = geo.pixel(*lonlat)
    assert abs(col - expected[0]) <= 1.0 and abs(row - expected[1]) <= 1.0, ((col, row), expected)
    # And the other way round, in degrees: the clicked pixel's own lon/lat.
    lon, lat = geo.lonlat(*expected)
    assert abs(lon - lonlat[0]) < 2e-4 and abs(lat - lonlat[1]) < 2e-4
