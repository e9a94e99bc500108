"""What the air-gap test does inside its network namespace (only loopback up), under ``strace -f``: receive,
verify, install, run, browse, upgrade (a failed one rolled back, then a good one), back up and restore, on a
bare Debian 12 made by mmdebstrap, entered with chroot. Run as ``python -m tests.airgap.driver CONFIG``; it
writes its findings as JSON to the path the configuration names, and stops at the first failed step.

It runs the bundle's scripts exactly as an operator would (``./verify``, ``./install``, ...) with a scrubbed
environment; only the browser runs outside the chroot (Debian's chromium of the test machine, in the same
network namespace), because the bare host has no browser.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from geo_label.cli.selftest_command import CheckFailed, draw_square, http, running_service
from tests.ui.browser import CHROMIUM_ARGS as BROWSER_ARGS

HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
PORT = 8000
BASE = f"http://127.0.0.1:{PORT}"
GEO_LABEL = "/opt/geolabel/bin/geo-label"
PASSWORD = "airgap-test-pass-phrase-4"
CHROMIUM_ARGS = [
    *BROWSER_ARGS,
    # The browser's own name lookups (none of GeoLabel's pages names a host): refused inside chromium.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


class StepFailed(Exception):
    pass


class Host:
    """The bare Debian 12 root ``root``, entered with chroot and an empty environment."""

    def __init__(self, root: Path, findings: dict[str, Any]) -> None:
        self.root = root
        self.findings = findings

    def command(self, script: str) -> list[str]:
        env = ["env", "-i", f"PATH={HOST_PATH}", "HOME=/root", "LANG=C.UTF-8", "TERM=dumb"]
        return ["chroot", str(self.root), *env, "sh", "-c", script]

    def run(
        self, script: str, *, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.command(script), input=stdin, capture_output=True, text=True, timeout=1200, check=False
        )
        self.findings.setdefault("log", []).append(
            {"script": script, "rc": done.returncode, "out": done.stdout[-4000:], "err": done.stderr[-2000:]}
        )
        if check and done.returncode != 0:
            last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
            raise StepFailed(f"{script}: exit {done.returncode}: {last}")
        return done

    def timed(self, name: str, script: str) -> str:
        started = time.perf_counter()
        out = self.run(script).stdout
        self.findings.setdefault("seconds", {})[name] = round(time.perf_counter() - started, 1)
        return out

    def geo_label(self, *args: str, stdin: str | None = None) -> str:
        return self.run(shlex.join([GEO_LABEL, *args]), stdin=stdin).stdout

    def export(self, name: str) -> str:
        self.geo_label("export", "--project", "harbor", "--as", "lena", "-o", f"/var/lib/geolabel/{name}")
        text = (self.root / "var/lib/geolabel" / name).read_text()
        return re.sub(r'"exported_at":"[^"]*"', "", text)

    def current_release(self) -> str:
        return (self.root / "opt/geolabel/current").readlink().name

    @contextmanager
    def service(self) -> Iterator[None]:
        """The installed service, as systemd would start it (the same command, as the service account)."""
        try:
            with running_service(self.command(f"exec {GEO_LABEL} serve"), BASE, None):
                yield
        except CheckFailed as exc:
            raise StepFailed(f"the installed service: {exc}") from None


def sign_in(username: str) -> str:
    status, body = http(f"{BASE}/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    if status != 200:
        raise StepFailed(f"sign-in as {username} answered {status}")
    return str(json.loads(body)["access_token"])


def browse(findings: dict[str, Any], project_id: str, chip_id: str) -> None:
    """Every page of the UI in headless chromium, signed in as the admin; every request it makes recorded."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    pages = ["#/queue", "#/account", "#/admin/users", "#/admin/members", f"#/project/{project_id}",
             f"#/label/{chip_id}", f"#/review/{chip_id}"]  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{BASE}/#/signin")
        page.click("#consent-accept")  # the notice-and-consent banner comes first
        page.fill("#username", "ada")
        page.fill("#password", PASSWORD)
        page.click("form.signin button[type=submit]")
        page.wait_for_selector("h1:has-text('My queue')", timeout=30_000)
        for hash_route in pages:
            page.goto(f"{BASE}/{hash_route}")
            page.wait_for_load_state("networkidle")
        page.goto(f"{BASE}/docs")
        page.wait_for_load_state("networkidle")
        browser.close()
    findings["browser_pages"] = [*pages, "/docs"]
    findings["browser_requests"] = len(requests)
    findings["browser_off_host"] = sorted(
        {url for url in requests if not url.startswith((BASE, "data:", "blob:"))}
    )


def flip_a_byte(host: Host, bundle: str) -> None:
    """A copy of the bundle with one byte of one wheel flipped must not verify."""
    copy = f"/root/{bundle}-flipped"
    host.run(f"rm -rf {copy} && cp -a /root/{bundle} {copy}")
    wheel = sorted((host.root / copy.lstrip("/") / "wheels").glob("numpy-*.whl"))[0]
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0x01
    wheel.write_bytes(bytes(data))
    done = host.run(f"cd {copy} && ./verify --key /root/geolabel-release.pub", check=False)
    host.findings["flipped_byte"] = {"rc": done.returncode, "stderr": done.stderr.strip()}
    host.run(f"rm -rf {copy}")


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    findings: dict[str, Any] = {"steps": []}
    host = Host(Path(config["host"]), findings)
    old, new = config["old_bundle"], config["new_bundle"]
    try:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=30)
        subprocess.run(["hostname", config["hostname"]], check=True, timeout=30)
        findings["steps"].append("loopback up, host name set")
        host.timed("verify", f"cd /root/{old} && ./verify --key /root/geolabel-release.pub")
        flip_a_byte(host, old)
        findings["install_output"] = host.timed("install", f"cd /root/{old} && ./install")
        host.run("touch /root/.before-second-install && sleep 1")
        findings["second_install_output"] = host.timed("install again", f"cd /root/{old} && ./install")
        changed = host.run(
            "find /opt/geolabel /etc/geolabel /etc/systemd/system -newer /root/.before-second-install"
        ).stdout.split()
        findings["changed_by_second_install"] = changed
        unit = "/etc/systemd/system/geolabel.service"
        findings["unit_verify"] = host.run(f"systemd-analyze verify {unit} 2>&1").stdout.strip()
        security = host.run(f"systemd-analyze security --offline=yes --no-pager {unit} 2>&1", check=False)
        findings["unit_exposure"] = next(
            (line.strip() for line in security.stdout.splitlines() if "Overall exposure level" in line), ""
        )
        findings["selftest_output"] = host.timed("selftest", f"cd /root/{old} && ./selftest")
        findings["steps"].append("installed, installed again, selftest")

        person = ("--clearance", "SECRET", "--citizenship", "USA", "--password-stdin")
        host.geo_label("users", "add", "ada", *person, "--role", "admin", stdin=PASSWORD + "\n")
        host.geo_label("users", "add", "lena", *person, stdin=PASSWORD + "\n")
        host.geo_label("projects", "create", "harbor", "--marking", "UNCLASSIFIED", "--classes", "ship")
        host.geo_label("projects", "add-member", "harbor", "lena", "--role", "labeler")
        host.geo_label("projects", "add-member", "harbor", "ada", "--role", "manager")
        host.geo_label("sample-scene", "/var/lib/geolabel/scene.tif", "--size", "1024")
        host.geo_label(
            "ingest", "/var/lib/geolabel/scene.tif", "--project", "harbor", "--marking", "UNCLASSIFIED"
        )
        with host.service():
            token = sign_in("lena")
            _, body = http(f"{BASE}/api/v1/projects", token=token)
            project = next(p for p in json.loads(body)["items"] if p["name"] == "harbor")
            draw_square(BASE, token, "ship")
            _, body = http(f"{BASE}/api/v1/chips?limit=1", token=token)
            chip_id = json.loads(body)["items"][0]["id"]
            findings["steps"].append("service: signed in, listed projects, saved an annotation")
            browse(findings, project["id"], chip_id)
            findings["steps"].append("browser: every page")
        before = host.export("before.geojson")
        findings["export_features"] = json.loads((host.root / "var/lib/geolabel/before.geojson").read_text())[
            "feature_count"
        ]
        host.timed("backup", f"cd /root/{old} && ./backup /root/backup-{old}.tar")
        findings["steps"].append("backup")

        host.timed("verify new", f"cd /root/{new} && ./verify --key /root/geolabel-release.pub")
        failed = host.run(f"cd /root/{new} && GEOLABEL_UPGRADE_FAULT=after-migrate ./upgrade", check=False)
        findings["failed_upgrade"] = {
            "rc": failed.returncode,
            "stderr": failed.stderr.strip().splitlines()[-1:],
            "release_after": host.current_release(),
            "export_same": host.export("after-rollback.geojson") == before,
            "audit": host.geo_label("audit", "verify").strip(),
        }
        findings["steps"].append("an upgrade that failed was rolled back")
        findings["upgrade_output"] = host.timed("upgrade", f"cd /root/{new} && ./upgrade")
        findings["upgraded"] = {
            "release_after": host.current_release(),
            "export_same": host.export("after-upgrade.geojson") == before,
            "audit": host.geo_label("audit", "verify").strip(),
            "users": host.geo_label("users", "list"),
        }
        findings["steps"].append("upgraded")

        host.timed("uninstall", f"cd /root/{new} && ./uninstall --purge")
        findings["after_purge"] = sorted(
            str(p) for p in ("opt/geolabel", "etc/geolabel", "var/lib/geolabel") if (host.root / p).exists()
        )
        host.timed("install fresh", f"cd /root/{new} && ./install --key /root/geolabel-release.pub")
        host.timed("restore", f"cd /root/{new} && ./restore /root/backup-{old}.tar")
        findings["restored"] = {
            "export_same": host.export("after-restore.geojson") == before,
            "audit": host.geo_label("audit", "verify").strip(),
        }
        findings["steps"].append("uninstalled, installed fresh, restored")
    except (StepFailed, subprocess.SubprocessError, OSError, KeyError, ValueError) as exc:
        findings["error"] = f"{type(exc).__name__}: {exc}"
    Path(config["findings"]).write_text(json.dumps(findings, indent=1))
    return 0


def leak(config_path: str) -> int:
    """The deliberate leaks the harness must catch: a Python connect() to an off-host address, and a page
    that loads an outside URL."""
    config = json.loads(Path(config_path).read_text())
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=30)
    import socket

    with socket.socket() as s:
        s.settimeout(2)
        with suppress(OSError):
            s.connect(("192.0.2.10", 80))  # TEST-NET-1: never routed
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    page_file = Path(config["page"])
    page_file.write_text('<!doctype html><img src="http://192.0.2.10/pixel.png">')
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.goto(page_file.as_uri())
        page.wait_for_timeout(1000)
        browser.close()
    off_host = sorted({url for url in requests if not url.startswith(("file:", BASE, "data:"))})
    Path(config["findings"]).write_text(json.dumps({"browser_off_host": off_host}))
    return 0


if __name__ == "__main__":
    sys.exit(leak(sys.argv[2]) if sys.argv[1] == "leak" else main(sys.argv[2]))
