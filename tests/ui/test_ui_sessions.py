"""No labeler loses work to a lapsed session (issue 20), in Chromium against servers whose limits are scaled
down from minutes to seconds: a 12-second token lapses while the labeler thinks and is renewed without a
word; past a 20-second idle limit the page asks for the password over the drawing and the work is saved
after it; after Sign out the token is refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext
from pydantic import SecretStr

from api.app import build_state, create_app
from geo_label.settings import PasswordScheme, Settings
from tests import pg
from tests.rasters import utm_uint16
from tests.ui.browser import UiPage, live_server, new_page, sign_in
from tests.ui.conftest import CHIP, UiWorld
from tests.ui.geo import ChipGeo, screen_point
from tests.ui.test_ui_labeling import chip_of_task, map_geometry, take_next_task
from tests.world import PASSWORD, add_member, ingest, make_project, make_user, unique

API = "/api/v1"


@contextmanager
def short_lived(
    test_db: pg.TestDatabase, data_dir: Path, *, token_minutes: float, idle_minutes: float
) -> Iterator[str]:
    settings = Settings(
        data_dir=data_dir,
        token_signing_key=SecretStr("u" * 48),
        password_scheme=PasswordScheme.PBKDF2_SHA256,
        token_minutes=token_minutes,
        idle_minutes=idle_minutes,
        admin_idle_minutes=idle_minutes,
    )
    with live_server(create_app(build_state(settings, test_db.database))) as url:
        yield url


@pytest.fixture
def tabs(browser_context: BrowserContext) -> Iterator[Callable[[str], UiPage]]:
    pages: list[UiPage] = []

    def make(origin: str) -> UiPage:
        pages.append(new_page(browser_context, origin))
        return pages[-1]

    yield make
    for ui in pages:
        ui.page.close()
    for ui in pages:
        assert ui.recorder.foreign() == [] and ui.recorder.csp_violations() == []


@pytest.fixture(scope="module")
def session_world(
    test_db: pg.TestDatabase, ui_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A project of its own (three open chips) and three labelers: these tests take tasks of their own."""
    project = make_project(test_db, "UNCLASSIFIED", name=unique("ui-sessions"))
    people = {}
    for who in ("thinker", "idler", "ended"):
        people[who] = make_user(test_db, unique(who), "UNCLASSIFIED")
        add_member(test_db, project, people[who])
    scene = utm_uint16(tmp_path_factory.mktemp("session-scene") / "scene.tif", 3 * CHIP, CHIP, seed=31)
    ingest(test_db, project, scene, ui_data_dir, "U", size=CHIP)
    return people


def draw_square(ui: UiPage, test_db: pg.TestDatabase, task_id: str) -> None:
    geo = ChipGeo.of(test_db, chip_of_task(test_db, task_id))
    page = ui.page
    page.click("[data-class=building]")
    page.click("[data-tool=Polygon]")
    box, chip_box = map_geometry(ui)
    for fx, fy in [(0.3, 0.3), (0.6, 0.3), (0.45, 0.6)]:
        (x, y), _ = screen_point(box, chip_box, geo, fx, fy)
        page.mouse.move(x, y)
        page.mouse.click(x, y)
        page.wait_for_timeout(350)
    page.keyboard.press("Enter")
    page.wait_for_selector("#feature-count:has-text('1 features')")


def annotations_on(origin: str, username: str, task_id: str, test_db: pg.TestDatabase) -> int:
    token = httpx.post(f"{origin}{API}/auth/token", json={"username": username, "password": PASSWORD}).json()
    chip = chip_of_task(test_db, task_id)
    answer = httpx.get(
        f"{origin}{API}/annotations?chip={chip}", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    return int(answer.json()["total"])


def test_a_lapsed_token_is_renewed_while_the_labeler_thinks(
    test_db: pg.TestDatabase, ui_data_dir: Path, session_world: dict[str, str], tabs: Callable[[str], UiPage]
) -> None:
    with short_lived(test_db, ui_data_dir, token_minutes=0.2, idle_minutes=1) as origin:
        labeler = tabs(origin)
        sign_in(labeler, session_world["thinker"], PASSWORD)
        task_id = take_next_task(labeler)
        draw_square(labeler, test_db, task_id)
        labeler.page.wait_for_timeout(16_000)  # past the 12 s token, within the 60 s idle limit, no input
        assert labeler.page.locator("#reauth-overlay").count() == 0
        labeler.page.click("[data-action=submit]")
        labeler.page.wait_for_url("**/#/queue")
        assert labeler.page.locator("#reauth-overlay").count() == 0, "never asked to sign in"
        assert annotations_on(origin, session_world["thinker"], task_id, test_db) == 1


def test_past_the_idle_limit_the_password_is_asked_in_place_and_the_work_saved(
    test_db: pg.TestDatabase, ui_data_dir: Path, session_world: dict[str, str], tabs: Callable[[str], UiPage]
) -> None:
    with short_lived(test_db, ui_data_dir, token_minutes=0.1, idle_minutes=0.34) as origin:
        labeler = tabs(origin)
        sign_in(labeler, session_world["idler"], PASSWORD)
        task_id = take_next_task(labeler)
        draw_square(labeler, test_db, task_id)
        page = labeler.page
        page.wait_for_selector("#session-warning", timeout=25_000)  # warned before the limit
        labeler.screenshot("20-session-warning")
        page.wait_for_selector("#reauth-overlay", timeout=30_000)  # the lock, over the drawing
        labeler.screenshot("21-session-reauth")
        assert page.url.endswith(f"#/label/{task_id}"), "still on the labeling view"
        page.fill("#reauth-password", "not the password")
        page.click("#reauth button[type=submit]")
        page.wait_for_selector("#reauth .status-line:has-text('incorrect')")
        page.fill("#reauth-password", PASSWORD)
        page.click("#reauth button[type=submit]")
        page.wait_for_selector("#reauth-overlay", state="detached")
        page.wait_for_selector("#feature-count:has-text('1 features')")  # the drawing is still there
        page.click("[data-action=submit]")
        page.wait_for_url("**/#/queue")
        assert annotations_on(origin, session_world["idler"], task_id, test_db) == 1


def test_work_sent_into_an_ended_session_goes_through_after_the_password(
    origin: str, test_db: pg.TestDatabase, session_world: dict[str, str], tabs: Callable[[str], UiPage]
) -> None:
    """An officer (here: the database) ends the session while the labeler draws: Submit asks for the
    password over the view, then finishes the submission by itself."""
    labeler = tabs(origin)
    sign_in(labeler, session_world["ended"], PASSWORD)
    task_id = take_next_task(labeler)
    draw_square(labeler, test_db, task_id)
    with pg.psycopg.connect(pg.libpq(test_db.owner_url), autocommit=True) as owner:
        owner.execute(
            "UPDATE sessions SET ended_at = now(), end_reason = 'ended_by_officer' WHERE ended_at IS NULL "
            "AND user_id = (SELECT id FROM users WHERE username = %s)",
            (session_world["ended"],),
        )
    labeler.page.click("[data-action=submit]")
    labeler.page.wait_for_selector("#reauth-overlay")
    labeler.page.fill("#reauth-password", PASSWORD)
    labeler.page.click("#reauth button[type=submit]")
    labeler.page.wait_for_url("**/#/queue")  # the submission went through without another click
    assert annotations_on(origin, session_world["ended"], task_id, test_db) == 1


def test_sign_out_ends_the_session(origin: str, ui_world: UiWorld, tabs: Callable[[str], UiPage]) -> None:
    ui = tabs(origin)
    sign_in(ui, ui_world.users["manager"], PASSWORD)
    token = ui.page.evaluate("() => sessionStorage.getItem('geolabel.token')")
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{origin}{API}/me", headers=headers).status_code == 200
    ui.page.click("#nav button:has-text('Sign out')")
    ui.page.wait_for_url("**/#/signin")
    refused = httpx.get(f"{origin}{API}/me", headers=headers)
    assert refused.status_code == 401 and refused.json()["code"] == "session_ended"
