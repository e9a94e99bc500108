"""The air-gap test (issue 12): two real bundles (this version, and a newer one for the upgrade) are built,
carried onto a bare Debian 12 made by mmdebstrap, and verified, installed, run, browsed, upgraded (a failed
upgrade rolled back first), backed up and restored there, inside a network namespace with only loopback up,
while strace records every connect() of every process. It passes only with zero connection attempts off the
host and zero off-host browser requests; a second run with deliberate leaks shows the harness catches them.

What it shows: the bundle installs and runs on a host that has nothing but Debian 12's "important" packages
(no python3, no PostgreSQL) and no network; nothing reaches past loopback. What it cannot show: systemd
running the unit (a chroot has no init; the unit is installed and enabled, and the service runs as its
ExecStart line would, as the service account), a kernel of the host's own, or hardware.

Run with ``make test-airgap`` (root; it installs mmdebstrap, strace, iproute2 and chromium); about 6 minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy_airgapped.build import build, version
from tests.airgap.connections import Connections, read_trace

pytestmark = pytest.mark.airgap

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "airgap"
NEWER = f"{version()}.post1"
HOSTNAME = "geolabel-airgap"
TOOLS = ("mmdebstrap", "strace", "unshare", "chroot", "ip", "chromium")


@dataclass
class AirGapRun:
    findings: dict[str, Any]
    connections: Connections
    leak_findings: dict[str, Any]
    leak_connections: Connections
    contents: dict[str, int]


def mounts_below(folder: Path) -> list[Path]:
    """Mount points at or below ``folder``, deepest first (the order to unmount them in)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = Path(line.split()[4].encode().decode("unicode_escape"))  # octal escapes, as in "\\040"
        if point == folder or folder in point.parents:
            found.append(point)
    return sorted(found, key=lambda point: len(point.parts), reverse=True)


def remove_work(folder: Path) -> None:
    """Remove ``folder``, first unmounting what a run killed before its clean-up (a timeout, a kill -9) left
    mounted in its bare host: a leftover /proc there would stop the removal, and every later run with it."""
    for point in mounts_below(folder):
        subprocess.run(["umount", "--lazy", str(point)], check=True, timeout=60)
    if folder.exists():
        shutil.rmtree(folder)


def traced(command: list[str], trace: Path) -> None:
    """``command`` in new network and host name namespaces, every connect() of every process written to
    ``trace``, with an empty environment but for what finding programs needs (no proxy, no pip settings)."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
    calls = "trace=connect,execve,clone,clone3,fork,vfork"  # connects, and which program made each
    strace = ["strace", "-f", "--seccomp-bpf", "-qq", "-e", "signal=none", "-e", calls, "-o", str(trace)]
    subprocess.run(
        [
            "unshare",
            "--net",
            "--uts",
            "--",
            *strace,
            "--",
            sys.executable,
            "-m",
            "tests.airgap.driver",
            *command,
        ],
        env=env,
        cwd=REPO,
        check=True,
        timeout=3600,
    )


@pytest.fixture(scope="module")
def airgap() -> Iterator[AirGapRun]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        pytest.skip(
            f"the air-gap test runs as root with {', '.join(missing) or 'its tools'} (make test-airgap)"
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    work = Path(os.environ.get("GEO_LABEL_AIRGAP_WORK", "/var/tmp/geolabel-airgap"))
    remove_work(work)
    work.mkdir(parents=True)
    host = work / "host"
    mounts: list[Path] = []
    try:
        old = build(work / "dist", release_key=None, var_dir=work / "release")
        new = build(work / "dist", release_key=None, var_dir=work / "release", release=NEWER)
        subprocess.run(
            ["mmdebstrap", "--variant=important", "--quiet", "bookworm", str(host)], check=True, timeout=1200
        )
        for bundle in (old, new):
            with tarfile.open(bundle.tar) as tar:
                tar.extractall(host / "root", filter="tar")
        shutil.copyfile(old.public_key, host / "root" / "geolabel-release.pub")
        # As debian-installer leaves a host: its name in /etc/hostname and /etc/hosts (the driver sets it in
        # its own UTS namespace), so `hostname -f` (ssl-cert's postinst) finds it without asking DNS.
        (host / "etc" / "hostname").write_text(f"{HOSTNAME}\n")
        hosts = (host / "etc" / "hosts").read_text() if (host / "etc" / "hosts").exists() else ""
        (host / "etc" / "hosts").write_text(f"127.0.1.1\t{HOSTNAME}\n{hosts}")
        for kind, target in (("proc", host / "proc"), ("tmpfs", host / "dev" / "shm")):
            target.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "-t", kind, kind, str(target)], check=True, timeout=60)
            mounts.append(target)
        config = {
            "host": str(host),
            "old_bundle": old.folder.name,
            "new_bundle": new.folder.name,
            "findings": str(work / "findings.json"),
            "page": str(work / "leak.html"),
            "hostname": HOSTNAME,
        }
        (work / "config.json").write_text(json.dumps(config))
        traced(["run", str(work / "config.json")], work / "connect.trace")
        leak_config = {**config, "findings": str(work / "leak-findings.json")}
        (work / "leak-config.json").write_text(json.dumps(leak_config))
        traced(["leak", str(work / "leak-config.json")], work / "leak.trace")
        sbom = json.loads((old.folder / "sbom.cdx.json").read_text())
        contents = {
            "wheels": len(list((old.folder / "wheels").glob("*.whl"))),
            "debs": len(list((old.folder / "debs").glob("*.deb"))),
            "sbom_components": len(sbom["components"]),
            "licence_rows": len((old.folder / "licenses.csv").read_text().splitlines()) - 1,
        }
        run = AirGapRun(
            findings=json.loads((work / "findings.json").read_text()),
            connections=read_trace(work / "connect.trace"),
            leak_findings=json.loads((work / "leak-findings.json").read_text()),
            leak_connections=read_trace(work / "leak.trace"),
            contents=contents,
        )
        sizes = {
            "tar_mb": round(old.tar.stat().st_size / 1e6, 1),
            "wheels_mb": round(sum(p.stat().st_size for p in (old.folder / "wheels").iterdir()) / 1e6, 1),
            "debs_mb": round(sum(p.stat().st_size for p in (old.folder / "debs").iterdir()) / 1e6, 1),
        }
        summary = {
            "sizes": sizes,
            "contents": contents,
            "seconds": run.findings.get("seconds"),
            "connect_by_destination": dict(run.connections.by_destination),
            "off_host": run.connections.off_host,
            "browser_own_probes": run.connections.browser_own,
            "browser_requests": run.findings.get("browser_requests"),
            "unit_exposure": run.findings.get("unit_exposure"),
            "leak_caught": run.leak_connections.off_host + run.leak_findings["browser_off_host"],
        }
        (ARTIFACTS / "figures.json").write_text(json.dumps(summary, indent=1))
        (ARTIFACTS / "findings.json").write_text(json.dumps(run.findings, indent=1))
        yield run
    finally:
        for target in reversed(mounts):
            subprocess.run(["umount", "--lazy", str(target)], check=False, timeout=60)
        if not os.environ.get("GEO_LABEL_AIRGAP_KEEP"):
            remove_work(work)


def test_every_step_ran(airgap: AirGapRun) -> None:
    assert "error" not in airgap.findings, (airgap.findings.get("error"), airgap.findings.get("log", [])[-1:])


def test_a_flipped_byte_fails_verification(airgap: AirGapRun) -> None:
    flipped = airgap.findings["flipped_byte"]
    assert flipped["rc"] != 0
    assert flipped["stderr"].startswith("verify: FAILED: ./wheels/numpy-")
    assert flipped["stderr"].endswith("does not match the manifest")


def test_install_is_idempotent(airgap: AirGapRun) -> None:
    assert "newly installed" in airgap.findings["install_output"]
    assert airgap.findings["changed_by_second_install"] == []
    assert "0 upgraded, 0 newly installed" in airgap.findings["second_install_output"]


def test_the_systemd_unit_verifies(airgap: AirGapRun) -> None:
    """systemd-analyze checks the installed unit offline (systemd itself does not run in a chroot); its
    exposure score goes into figures.json."""
    assert airgap.findings["unit_verify"] == ""
    assert "Overall exposure level for geolabel.service" in airgap.findings["unit_exposure"]


def test_selftest_passes_on_the_bare_host(airgap: AirGapRun) -> None:
    assert airgap.findings["selftest_output"].rstrip().endswith("selftest: all checks passed")


def test_a_failed_upgrade_is_rolled_back_with_the_data(airgap: AirGapRun) -> None:
    failed = airgap.findings["failed_upgrade"]
    assert failed["rc"] != 0
    assert "rolled back to" in failed["stderr"][-1]
    assert failed["release_after"] == version()
    assert failed["export_same"] is True
    assert failed["audit"].startswith("audit chain intact")


def test_an_upgrade_keeps_labels_users_audit_and_chips(airgap: AirGapRun) -> None:
    upgraded = airgap.findings["upgraded"]
    assert upgraded["release_after"] == NEWER
    assert upgraded["export_same"] is True
    assert upgraded["audit"].startswith("audit chain intact")
    assert "ada" in upgraded["users"] and "lena" in upgraded["users"]


def test_purge_then_restore_onto_a_fresh_install_gives_the_same_export(airgap: AirGapRun) -> None:
    assert airgap.findings["after_purge"] == []
    assert airgap.findings["restored"]["export_same"] is True
    assert airgap.findings["restored"]["audit"].startswith("audit chain intact")


def test_nothing_leaves_the_host(airgap: AirGapRun) -> None:
    """No process but the test's browser tried an address past loopback, and no page asked for one. (Debian's
    chromium probes IPv6 reachability with a UDP connect() to a public address however it is started; that
    is the browser's, reported in figures.json, and sends nothing.)"""
    assert airgap.connections.off_host == []
    assert airgap.findings["browser_off_host"] == []
    assert airgap.findings["browser_requests"] > 10
    assert airgap.connections.by_destination["loopback"] > 0  # the trace did see the service's traffic


def test_the_harness_catches_a_deliberate_leak(airgap: AirGapRun) -> None:
    assert any("192.0.2.10" in line for line in airgap.leak_connections.off_host)
    assert airgap.leak_findings["browser_off_host"] == ["http://192.0.2.10/pixel.png"]


def test_the_sbom_and_the_licence_inventory_cover_every_wheel_and_deb(airgap: AirGapRun) -> None:
    contents = airgap.contents
    assert contents["wheels"] > 50 and contents["debs"] > 100
    assert contents["sbom_components"] == contents["wheels"] + contents["debs"]
    assert contents["licence_rows"] == contents["sbom_components"]


def test_a_mount_left_by_a_killed_run_does_not_stop_the_next(tmp_path: Path) -> None:
    """Regression: a run killed by a timeout left /proc mounted in its bare host; every later run then failed
    at its first step, unable to remove the old work folder."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    work = tmp_path / "work"
    proc = work / "host" / "proc"
    proc.mkdir(parents=True)
    (work / "host" / "kept.txt").write_text("left behind")
    subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True, timeout=60)
    assert mounts_below(work) == [proc]
    remove_work(work)
    assert not work.exists()
    assert mounts_below(tmp_path) == []
