"""The manager's project overview (with the export), and the admin and security officer pages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx

from tests import pg
from tests.rasters import utm_uint16
from tests.ui.browser import UiPage, sign_in
from tests.ui.conftest import UiWorld
from tests.ui.test_ui_labeling import GREEN
from tests.world import PASSWORD, add_member, ingest, make_project, make_user, unique


def test_project_overview_and_export(
    open_ui: Callable[[], UiPage], ui_world: UiWorld, tmp_path: Path
) -> None:
    manager = open_ui()
    sign_in(manager, ui_world.users["manager"], PASSWORD)
    manager.page.click("text=Project overview")
    manager.page.wait_for_selector("#progress")
    assert "in_progress" in manager.page.inner_text("#progress")
    assert "objects labeled" in manager.page.inner_text("#objects")
    assert manager.page.is_visible("#agreement") and manager.page.is_visible("#gold")
    assert manager.banner()["text"] == "UNCLASSIFIED" and manager.banner()["background"] == GREEN
    with manager.page.expect_download() as download:
        manager.page.click("[data-action=export]")
    target = tmp_path / "export.geojson"
    download.value.save_as(target)
    exported = json.loads(target.read_text())
    assert exported["type"] == "FeatureCollection"
    manager.page.wait_for_selector("#status:has-text('marked UNCLASSIFIED')")
    manager.screenshot("08-project-overview")


def test_admin_and_security_officer_pages(open_ui: Callable[[], UiPage], ui_world: UiWorld) -> None:
    admin = open_ui()
    sign_in(admin, ui_world.users["admin"], PASSWORD)
    admin.goto("#/admin/users")
    admin.page.wait_for_selector("#create-user")
    newcomer = unique("newcomer")
    admin.page.fill("#new-username", newcomer)
    admin.page.fill("#new-password", "a long and unusual passphrase 42")
    admin.page.click("#create-user button[type=submit]")
    admin.page.wait_for_selector(f"td:has-text('{newcomer}')")
    admin.screenshot("09-admin-users")
    admin.goto("#/admin/members")
    admin.page.wait_for_selector("h1:has-text('Memberships')")
    admin.screenshot("10-admin-memberships")

    officer = open_ui()
    sign_in(officer, ui_world.users["officer"], PASSWORD)
    officer.goto("#/admin/users")
    form = f"form[data-clearance='{newcomer}']"
    officer.page.wait_for_selector(form)
    officer.page.fill(f"{form} input[aria-label='clearance of {newcomer}']", "SECRET")
    officer.page.click(f"{form} button[type=submit]")
    # Widening access takes a second officer: the first sees it waiting, and cannot approve it.
    officer.page.wait_for_selector("#status:has-text('awaits a second security officer')")
    officer.page.wait_for_selector(f"#pending-grants tr:has(td:text-is('{newcomer}'))")
    assert officer.page.locator(f"button[data-approve='{newcomer}']").count() == 0
    assert officer.page.locator("#create-user").count() == 0  # accounts are the admin's
    officer.screenshot("11-security-officer")

    second = open_ui()
    sign_in(second, ui_world.users["second_officer"], PASSWORD)
    second.goto("#/admin/users")
    second.page.click(f"button[data-approve='{newcomer}']")
    second.page.wait_for_selector(f"tr:has(td:text-is('{newcomer}')) td:text-is('SECRET')")
    second.screenshot("11b-second-officer-approves")


def test_a_reset_password_is_changed_first_thing(
    open_ui: Callable[[], UiPage], ui_world: UiWorld, test_db: pg.TestDatabase
) -> None:
    """Issue 20: an admin resets a password from the Users page; the one-time password leads its holder to
    the Account page, and nowhere else, until a new password is chosen."""
    person = make_user(test_db, unique("forgetful"), "UNCLASSIFIED")
    admin = open_ui()
    sign_in(admin, ui_world.users["admin"], PASSWORD)
    admin.goto("#/admin/users")
    admin.page.click(f"button[data-reset-password='{person}']")
    shown = admin.page.wait_for_selector("#status:has-text('One-time password')").inner_text()
    one_time = shown.split(": ", 1)[1].split(" ")[0]

    holder = open_ui()
    holder.goto("#/signin")
    holder.page.click("#consent-accept")
    holder.page.fill("#username", person)
    holder.page.fill("#password", one_time)
    holder.page.click("form.signin button[type=submit]")
    holder.page.wait_for_selector("#change-password")
    holder.goto("#/queue")
    holder.page.wait_for_selector("#change-password")  # nowhere else first
    holder.page.fill("#current-password", one_time)
    holder.page.fill("#new-password", "a brand new passphrase 2026")
    holder.page.fill("#new-password-again", "a brand new passphrase 2026")
    holder.screenshot("12-change-password")
    holder.page.click("#change-password button[type=submit]")
    holder.page.wait_for_selector("h1:has-text('My queue')")


def test_the_api_docs_work_offline(open_ui: Callable[[], UiPage]) -> None:
    """Issue 20 item 8: Swagger UI 5 reads the OpenAPI 3.1 document and lists the operations, with no request
    leaving GeoLabel (the fixture checks) and no CSP violation; only its script and stylesheet are served."""
    ui = open_ui()
    ui.page.goto(f"{ui.origin}/docs")
    ui.page.wait_for_selector(".opblock-summary-path[data-path='/api/v1/auth/token']", timeout=20_000)
    assert ui.page.locator(".opblock").count() > 40
    assert ui.page.locator("text=Unable to render this definition").count() == 0
    ui.screenshot("13-api-docs")
    for stock in ("index.html", "swagger-initializer.js"):
        assert ui.page.request.get(f"{ui.origin}/ui/vendor/swagger-ui/{stock}").status == 404


def test_an_analyst_makes_and_revokes_an_access_token(
    open_ui: Callable[[], UiPage], test_db: pg.TestDatabase, origin: str
) -> None:
    """The account page makes a read-only token for QGIS (shown once), which then reads over Basic (from this
    host), and revokes it (issue 22)."""
    analyst = make_user(test_db, unique("analyst"), "SECRET")
    ui = open_ui()
    sign_in(ui, analyst, PASSWORD)
    ui.goto("#/account")
    ui.page.wait_for_selector("#create-token")
    ui.page.fill("#token-label", "QGIS on ws-042")
    ui.page.click("#create-token button[type=submit]")
    secret = ui.page.inner_text("#new-token")
    assert secret.startswith("glt_")
    ui.page.wait_for_selector("#token-list td:has-text('QGIS on ws-042')")
    assert secret not in ui.page.inner_text("#token-list")
    ui.screenshot("11-access-tokens")
    read = httpx.get(f"{origin}/ogc/collections", auth=(analyst, secret), timeout=30)
    assert read.status_code == 200, read.text
    ui.page.click("[data-revoke]")
    ui.page.wait_for_selector("#token-list td:has-text('revoked')")
    assert httpx.get(f"{origin}/ogc/collections", auth=(analyst, secret), timeout=30).status_code == 401


def test_the_releases_page_from_review_to_download(
    open_ui: Callable[[], UiPage], ui_world: UiWorld, test_db: pg.TestDatabase, origin: str, tmp_path: Path
) -> None:
    """Issue 15: a foreign disclosure officer approves a release request on the Releases page; its requester
    downloads it there."""
    officer_name = make_user(
        test_db, unique("fdo"), "SECRET", roles=frozenset({"foreign_disclosure_officer"})
    )
    requester = ui_world.users["manager"]
    signed = httpx.post(f"{origin}/api/v1/auth/token", data={"username": requester, "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    asked = httpx.get(f"{origin}/api/v1/projects/{ui_world.project}/export?recipient=GBR", headers=bearer)
    assert asked.status_code == 202, asked.text
    request = asked.json()["release_request"]

    officer = open_ui()
    sign_in(officer, officer_name, PASSWORD)
    officer.goto("#/releases")
    officer.page.wait_for_selector(f"button[data-approve='{request}']")
    officer.page.fill(f"input[aria-label='justification for {request}']", "releasable to GBR")
    officer.page.click(f"button[data-approve='{request}']")
    officer.page.wait_for_selector("td:has-text('approved: releasable to GBR')")
    officer.screenshot("13-releases-officer")

    owner = open_ui()
    sign_in(owner, requester, PASSWORD)
    owner.goto("#/releases")
    with owner.page.expect_download() as download:
        owner.page.click(f"button[data-download='{request}']")
    target = tmp_path / "release.geojson"
    download.value.save_as(target)
    released = json.loads(target.read_text())
    assert released["type"] == "FeatureCollection" and released["recipient"] == "GBR"
    owner.page.wait_for_selector("#status:has-text('sha256')")


def test_the_notice_and_consent_banner_comes_before_the_sign_in_form(
    open_ui: Callable[[], UiPage], origin: str
) -> None:
    """Issue 15: the system use notification is shown, and accepted, before anyone may sign in."""
    text = httpx.get(f"{origin}/api/v1/auth/notice").json()["text"]
    assert "consent" in text
    visitor = open_ui()
    visitor.goto("#/signin")
    visitor.page.wait_for_selector("#consent-text")
    assert visitor.page.inner_text("#consent-text") == text
    assert visitor.page.locator("#username").count() == 0, "no sign-in form before the notice is accepted"
    visitor.page.click("#consent-accept")
    visitor.page.wait_for_selector("#username")


def test_a_labeler_appeals_a_rejection_from_the_queue(
    open_ui: Callable[[], UiPage],
    test_db: pg.TestDatabase,
    origin: str,
    ui_data_dir: Path,
    tmp_path: Path,
) -> None:
    """Issue 15: a rejected task's labeler appeals it once, with a comment, from My queue (a project of its
    own: the shared one's tasks are taken by the other browser tests)."""
    project = make_project(test_db, "UNCLASSIFIED", name=unique("ui-appeals"))
    labeler = make_user(test_db, unique("appellant"), "UNCLASSIFIED")
    judge = make_user(test_db, unique("judge"), "UNCLASSIFIED")
    add_member(test_db, project, labeler, "labeler")
    add_member(test_db, project, judge, "reviewer")
    ingest(
        test_db, project, utm_uint16(tmp_path / "appeal.tif", 256, 256, seed=31), ui_data_dir, "U", size=256
    )

    def bearer(username: str) -> dict[str, str]:
        signed = httpx.post(f"{origin}/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        return {"Authorization": f"Bearer {signed.json()['access_token']}"}

    mine, reviewer = bearer(labeler), bearer(judge)
    task = httpx.post(f"{origin}/api/v1/projects/{project}/tasks/next", headers=mine).json()
    assert httpx.post(f"{origin}/api/v1/tasks/{task['id']}/submit", headers=mine).status_code == 200
    rejected = httpx.post(
        f"{origin}/api/v1/tasks/{task['id']}/review",
        headers=reviewer,
        json={"decision": "reject", "comment": "Nothing labeled."},
    )
    assert rejected.status_code == 200, rejected.text

    ui = open_ui()
    sign_in(ui, labeler, PASSWORD)
    ui.page.once("dialog", lambda dialog: dialog.accept("The chip is empty: only water."))
    ui.page.click(f"button[data-appeal='{task['id']}']")
    ui.page.wait_for_selector("text=Appealed: another reviewer decides.")
    state = httpx.get(f"{origin}/api/v1/tasks/{task['id']}", headers=mine).json()
    assert state["state"] == "submitted" and state["appeal"]["comment"] == "The chip is empty: only water."
    with ui.page.expect_download() as download:  # and their own record, as CSV
        ui.page.click("button[data-action=record]")
    record = Path(download.value.path()).read_text().splitlines()
    assert record[0] == "UNCLASSIFIED" and task["id"] in record[2]
