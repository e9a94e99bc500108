"""Issue 15, part 4: every audit record also leaves the box as a JSON line (a rotating file, or RFC 5424 to a
local syslog socket); a target that is down loses nothing and gets every record, in order, once it is back."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from geo_label.audit_forward import FileTarget, Forwarder, SyslogTarget, forward_once
from geo_label.db.models import AUDIT_LOG
from tests.pg import TestDatabase
from tests.world import make_user, unique

REPO = Path(__file__).resolve().parents[2]


def last_audit_id(db: TestDatabase) -> int:
    with db.as_system() as session:
        return int(session.execute(select(func.max(AUDIT_LOG.c.id))).scalar_one() or 0)


def start_after(db: TestDatabase, target: str, last_id: int) -> None:
    """The target's cursor at ``last_id``: it is sent what comes after (the shared test database holds
    every other test's records too)."""
    with db.as_system() as session:
        session.execute(
            text("INSERT INTO audit_forwarding (target, last_id) VALUES (:t, :i)"),
            {"t": target, "i": last_id},
        )


def forward(db: TestDatabase, target: FileTarget | SyslogTarget) -> int:
    with db.as_system() as session:
        return forward_once(session, target)


def hashes_after(db: TestDatabase, last_id: int) -> dict[int, str]:
    with db.as_system() as session:
        rows = session.execute(select(AUDIT_LOG.c.id, AUDIT_LOG.c.hash).where(AUDIT_LOG.c.id > last_id)).all()
    return {int(i): bytes(h).hex() for i, h in rows}


def test_every_record_goes_to_the_file_once_in_order(test_db: TestDatabase, tmp_path: Path) -> None:
    target = FileTarget(tmp_path / "audit" / "audit.jsonl")
    before = last_audit_id(test_db)
    start_after(test_db, target.name, before)
    for _ in range(3):
        make_user(test_db, unique("fwd"), "SECRET")  # audited acts (user.create)
    assert forward(test_db, target) == len(hashes_after(test_db, before)) >= 3
    lines = [json.loads(line) for line in target.path.read_text().splitlines()]
    assert {line["id"]: line["hash"] for line in lines} == hashes_after(test_db, before)
    assert [line["id"] for line in lines] == sorted(line["id"] for line in lines)
    assert {"user.create"} <= {line["action"] for line in lines}
    assert all(line["marking"] and line["at"].endswith("Z") for line in lines)
    assert forward(test_db, target) == 0  # nothing new: nothing sent twice
    assert oct(target.path.stat().st_mode & 0o777) == "0o600"


def test_the_file_rotates(tmp_path: Path) -> None:
    target = FileTarget(tmp_path / "audit.jsonl", max_bytes=10, keep=2)
    for n in range(4):
        target.send([f'{{"id": {n}}}'.encode()])
    assert target.path.read_text() == '{"id": 3}\n'
    assert (tmp_path / "audit.jsonl.1").read_text() == '{"id": 2}\n'
    assert (tmp_path / "audit.jsonl.2").read_text() == '{"id": 1}\n'
    assert not (tmp_path / "audit.jsonl.3").exists()


class SyslogListener:
    """A local syslog socket (a Unix datagram socket) that keeps what it receives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self) -> None:
        while not self.stopped.is_set():
            try:
                self.messages.append(self.sock.recv(1 << 20))
            except TimeoutError:
                continue

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.sock.close()
        os.unlink(self.path)


@pytest.fixture()
def socket_path() -> Iterator[Path]:
    folder = Path(f"/tmp/gl-syslog-{os.getpid()}-{time.monotonic_ns()}")  # short: AF_UNIX path limit
    folder.mkdir()
    yield folder / "log"
    for leftover in folder.iterdir():
        leftover.unlink()
    folder.rmdir()


def test_a_syslog_target_that_was_down_gets_every_record_when_back(
    test_db: TestDatabase, socket_path: Path
) -> None:
    target = SyslogTarget(str(socket_path))
    before = last_audit_id(test_db)
    start_after(test_db, target.name, before)
    make_user(test_db, unique("fwd-down"), "SECRET")
    with pytest.raises(OSError):  # nobody listens: the records stay to be sent
        forward(test_db, target)
    make_user(test_db, unique("fwd-down"), "SECRET")

    listener = SyslogListener(socket_path)
    try:
        sent = forward(test_db, target)
        deadline = time.monotonic() + 5
        while len(listener.messages) < sent and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        listener.close()
    assert sent == len(hashes_after(test_db, before)) >= 2
    ids = []
    for message in listener.messages:
        header, _, body = message.partition(b" audit - ")
        assert header.startswith(b"<110>1 ") and b" geo-label " in header  # RFC 5424: log audit, info
        ids.append(json.loads(body)["id"])
    assert ids == sorted(hashes_after(test_db, before))


def test_the_forwarder_retries_what_failed(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("collector down")

    forwarder = Forwarder(flaky, 0.01)
    forwarder.start()
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    forwarder.stop()
    assert len(calls) >= 3 and "collector down" in caplog.text


def test_audit_export_gives_the_lines_of_a_period(test_db: TestDatabase) -> None:
    since = datetime.now(UTC)
    make_user(test_db, unique("fwd-export"), "SECRET")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["GEO_LABEL_DATABASE_URL"] = test_db.owner_url
    env["GEO_LABEL_AUDIT_KEY"] = test_db.database.audit_key.decode()
    result = subprocess.run(
        [sys.executable, "-m", "geo_label", "audit", "export", "--since", since.isoformat()],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and all(line["at"] >= since.isoformat().replace("+00:00", "Z")[:19] for line in lines)
    assert "user.create" in {line["action"] for line in lines}


def test_audit_forward_from_the_command_line(test_db: TestDatabase, tmp_path: Path) -> None:
    path = tmp_path / "cli-audit.jsonl"
    start_after(test_db, f"file:{path}", last_audit_id(test_db))
    make_user(test_db, unique("fwd-cli"), "SECRET")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["GEO_LABEL_DATABASE_URL"] = test_db.owner_url
    env["GEO_LABEL_AUDIT_KEY"] = test_db.database.audit_key.decode()
    command = [sys.executable, "-m", "geo_label", "audit", "forward", "--target", f"file:{path}"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("forwarded "), result.stderr
    assert "user.create" in {json.loads(line)["action"] for line in path.read_text().splitlines()}
    bad = subprocess.run(
        [*command[:-1], "tcp:somewhere"], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "syslog:PATH or file:PATH" in bad.stderr
