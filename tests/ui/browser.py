"""Real-browser helpers: Debian's chromium driven by Playwright (never a downloaded browser), a live
GeoLabel server on a free loopback port, and pages that record every request so a test can prove nothing
left GeoLabel."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]


def artifacts_dir() -> Path:
    """Where screenshots go: GEO_LABEL_UI_ARTIFACTS, else test-artifacts/ui in the repository (ignored)."""
    path = Path(os.environ.get("GEO_LABEL_UI_ARTIFACTS", REPO / "test-artifacts" / "ui"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a background thread; yields its origin."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="geo-label-ui-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the GeoLabel test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Recorder:
    """Every URL a page asked for, and every console error (a CSP violation is one)."""

    origin: str
    urls: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_request(self, request: Request) -> None:
        self.urls.append(request.url)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def foreign(self) -> list[str]:
        """Requests not served by GeoLabel (data: URLs and same-origin blob: URLs never leave the page)."""
        allowed = (f"{self.origin}/", "data:", f"blob:{self.origin}/")
        return [url for url in self.urls if not url.startswith(allowed)]

    def csp_violations(self) -> list[str]:
        return [e for e in self.errors if "Content Security Policy" in e or "Refused to" in e]


@dataclass
class UiPage:
    page: Page
    recorder: Recorder
    origin: str

    def goto(self, route: str) -> None:
        self.page.goto(f"{self.origin}/{route}")

    def screenshot(self, name: str) -> None:
        self.page.screenshot(path=str(artifacts_dir() / f"{name}.png"), full_page=True)

    def banner(self) -> dict[str, Any]:
        """The top banner's text and computed colours, once no longer pending; the bottom one must match."""
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('[data-banner]')].every(b => b.dataset.marking)"
        )
        result: dict[str, Any] = self.page.evaluate(
            """() => [...document.querySelectorAll('[data-banner]')].map(b => ({
                text: b.textContent, background: getComputedStyle(b).backgroundColor,
                colour: getComputedStyle(b).color}))"""
        )
        top, bottom = result
        assert top == bottom, (top, bottom)
        return dict(top)


def new_page(context: BrowserContext, origin: str) -> UiPage:
    page = context.new_page()
    recorder = Recorder(origin)
    page.on("request", recorder.on_request)
    page.on("console", recorder.on_console)
    page.set_default_timeout(15_000)
    return UiPage(page=page, recorder=recorder, origin=origin)


def sign_in(ui: UiPage, username: str, password: str) -> None:
    ui.goto("#/signin")
    ui.page.click("#consent-accept")  # the notice-and-consent banner comes first
    ui.page.fill("#username", username)
    ui.page.fill("#password", password)
    ui.page.click("form.signin button[type=submit]")
    ui.page.wait_for_selector("h1:has-text('My queue')")
