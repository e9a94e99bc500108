"""Fixtures for the browser tests: one live server, one chromium and one small world per session."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, sync_playwright
from pydantic import SecretStr

from api.app import build_state, create_app
from geo_label import projects
from geo_label.settings import PasswordScheme, Settings
from tests import pg
from tests.rasters import utm_uint16
from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS, UiPage, live_server, new_page
from tests.world import add_member, chip_ids, ingest, make_project, make_user, unique

#: Chips are 256 pixels; each scene is two chips side by side.
CHIP = 256


@dataclass
class UiWorld:
    """An UNCLASSIFIED project with two scenes at the same place: one UNCLASSIFIED, one CONFIDENTIAL."""

    project: uuid.UUID
    open_chips: list[uuid.UUID]
    confidential_chips: list[uuid.UUID]
    users: dict[str, str] = field(default_factory=dict)  # role in the tests -> username


@pytest.fixture(scope="session")
def ui_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui-data")


@pytest.fixture(scope="session")
def origin(test_db: pg.TestDatabase, ui_data_dir: Path) -> Iterator[str]:
    settings = Settings(
        data_dir=ui_data_dir,
        token_signing_key=SecretStr("u" * 48),
        password_scheme=PasswordScheme.PBKDF2_SHA256,
    )
    with live_server(create_app(build_state(settings, test_db.database))) as url:
        yield url


@pytest.fixture(scope="session")
def browser_context() -> Iterator[BrowserContext]:
    with (
        tempfile.TemporaryDirectory(prefix="geo-label-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
            accept_downloads=True,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def ui_world(
    test_db: pg.TestDatabase, ui_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> UiWorld:
    scenes = tmp_path_factory.mktemp("ui-scenes")
    classes = [
        projects.LabelClass("vehicle"),
        projects.LabelClass(
            "building",
            ("Polygon", "MultiPolygon"),
            (
                {"name": "floors", "type": "integer"},
                {"name": "use", "type": "enum", "values": ["civil", "military"]},
            ),
        ),
    ]
    project = make_project(test_db, "UNCLASSIFIED", classes=classes, name=unique("ui-project"))
    world_users = {
        "labeler": ("UNCLASSIFIED", "labeler", frozenset[str]()),
        "other_labeler": ("UNCLASSIFIED", "labeler", frozenset[str]()),
        "secret_labeler": ("SECRET", "labeler", frozenset[str]()),
        "reviewer": ("SECRET", "reviewer", frozenset[str]()),
        "manager": ("UNCLASSIFIED", "manager", frozenset[str]()),
        "admin": ("UNCLASSIFIED", None, frozenset({"admin"})),
        "officer": ("SECRET", None, frozenset({"security_officer"})),
        "second_officer": ("SECRET", None, frozenset({"security_officer"})),
    }
    users: dict[str, str] = {}
    for name, (clearance, role, roles) in world_users.items():
        users[name] = make_user(test_db, unique(name), clearance, roles=roles)
        if role is not None:
            add_member(test_db, project, users[name], role)
    open_image = ingest(
        test_db,
        project,
        utm_uint16(scenes / "open.tif", 2 * CHIP, CHIP, seed=21),
        ui_data_dir,
        "U",
        size=CHIP,
    )
    hidden_image = ingest(
        test_db,
        project,
        utm_uint16(scenes / "hidden.tif", 2 * CHIP, CHIP, seed=22),
        ui_data_dir,
        "C",
        size=CHIP,
    )
    return UiWorld(
        project=project,
        open_chips=chip_ids(test_db, open_image),
        confidential_chips=chip_ids(test_db, hidden_image),
        users=users,
    )


@pytest.fixture
def open_ui(browser_context: BrowserContext, origin: str) -> Iterator[Callable[[], UiPage]]:
    """New browser tabs (each its own sessionStorage, so its own sign-in); afterwards, every request each tab
    made must have gone to GeoLabel and no Content-Security-Policy violation may have been reported."""
    pages: list[UiPage] = []

    def make() -> UiPage:
        pages.append(new_page(browser_context, origin))
        return pages[-1]

    yield make
    for ui in pages:
        ui.page.close()
    for ui in pages:
        assert ui.recorder.foreign() == [], ui.recorder.foreign()
        assert ui.recorder.csp_violations() == [], ui.recorder.csp_violations()
        assert len(ui.recorder.urls) > 0
