"""The embedded PostgreSQL + PostGIS cluster, on the real PostgreSQL binaries (no mocks)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy

from geo_label.db import embedded
from geo_label.db.embedded import (
    OWNER_ROLE,
    PORT,
    EmbeddedCluster,
    EmbeddedDatabaseError,
    embedded_database,
    find_bin_dir,
)

REPO = Path(__file__).resolve().parents[2]

# A second GeoLabel process: holds the cluster until told to leave on stdin.
SECOND_USER = """
import sys
from pathlib import Path
from geo_label.db.embedded import embedded_database
with embedded_database(Path(sys.argv[1])):
    print("up", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def data_dir(embedded_data_dir: Path) -> Path:
    return embedded_data_dir


def owner_connection(cluster: EmbeddedCluster) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(host=str(cluster.socket_dir), port=PORT, dbname="geo_label", user=OWNER_ROLE)


def postmaster_pid(cluster: EmbeddedCluster) -> int:
    return int((cluster.data_path / "postmaster.pid").read_text().split()[0])


def wait_until_dead(pid: int, timeout: float = 10.0) -> None:
    """Until the process is gone or a zombie: SIGKILL is delivered asynchronously."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} survived SIGKILL")


def read_line(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else ""


def test_find_bin_dir_prefers_the_newest_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for version in ("9.6", "13", "15", "notes"):
        bin_dir = tmp_path / version / "bin"
        bin_dir.mkdir(parents=True)
        for tool in ("initdb", "pg_ctl", "postgres"):
            (bin_dir / tool).touch()
    (tmp_path / "16" / "bin").mkdir(parents=True)  # a client-only install: no server tools
    (tmp_path / "16" / "bin" / "pg_ctl").touch()
    monkeypatch.setattr(embedded, "SEARCH_ROOT", tmp_path)
    assert find_bin_dir() == tmp_path / "15" / "bin"


def test_missing_postgresql_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "SEARCH_ROOT", tmp_path / "no-postgresql")
    monkeypatch.setattr(embedded, "PG_CONFIG", "geo-label-no-such-pg-config")
    with pytest.raises(EmbeddedDatabaseError, match="install the postgresql-15-postgis-3 package"):
        find_bin_dir()
    with pytest.raises(EmbeddedDatabaseError, match="postgresql-15-postgis-3") as caught:
        EmbeddedCluster(tmp_path / "postgres").ensure_initialised()
    assert caught.value.code == "embedded_database"
    assert "\n" not in caught.value.detail


def test_url_goes_through_the_socket_directory_only() -> None:
    cluster = EmbeddedCluster(Path("/srv/geo label/postgres"))
    url = sqlalchemy.make_url(cluster.url())
    assert (url.drivername, url.username, url.password, url.host, url.port) == (
        "postgresql+psycopg",
        OWNER_ROLE,
        None,
        None,
        None,
    )
    assert url.database == "geo_label"
    assert url.query == {"host": "/srv/geo label/postgres/run", "port": str(PORT)}
    assert sqlalchemy.make_url(cluster.url("postgres", "postgres")).database == "postgres"


def test_paths_are_absolute_and_under_the_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    cluster = EmbeddedCluster(Path("var/postgres"))
    assert cluster.root == tmp_path / "var" / "postgres"
    assert cluster.data_path == cluster.root / "data"
    assert cluster.socket_dir == cluster.root / "run"
    assert cluster.log_path == cluster.root / "postgres.log"


def test_start_before_initialisation_is_a_clear_error(tmp_path: Path) -> None:
    cluster = EmbeddedCluster(tmp_path / "postgres")
    assert not cluster.is_running()
    cluster.stop()  # nothing to stop
    with pytest.raises(EmbeddedDatabaseError, match="not initialised"):
        cluster.start()


@pytest.mark.slow
def test_initialise_start_and_connect_as_the_owner(data_dir: Path) -> None:
    cluster = EmbeddedCluster(data_dir / "postgres")
    cluster.ensure_initialised()
    assert not cluster.is_running()  # initialisation leaves the server as it found it
    cluster.start()
    assert cluster.is_running()
    assert cluster.socket_dir.stat().st_mode & 0o777 == 0o700
    with owner_connection(cluster) as conn:
        assert str(conn.execute("SELECT postgis_version()").fetchone()).startswith("('3.")
        is_superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        assert is_superuser == (False,)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
        assert conn.execute(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'"
        ).fetchone() == (OWNER_ROLE,)
        assert conn.execute(
            "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'geo_label'"
        ).fetchone() == ("UTF8",)
    engine = sqlalchemy.create_engine(cluster.url())
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("SELECT current_user")).scalar_one() == OWNER_ROLE
    engine.dispose()

    pid = postmaster_pid(cluster)
    cluster.ensure_initialised()
    cluster.start()
    assert postmaster_pid(cluster) == pid  # idempotent: same server, nothing re-created
    cluster.stop()
    assert not cluster.is_running()
    cluster.stop()


@pytest.mark.slow
def test_last_process_to_leave_stops_the_cluster(data_dir: Path) -> None:
    """Both processes start on a fresh data directory at about the same time: one initialises, one waits."""
    cluster = EmbeddedCluster(data_dir / "postgres")
    second = subprocess.Popen(
        [sys.executable, "-c", SECOND_USER, str(data_dir)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with embedded_database(data_dir) as used:
            assert used == cluster
            assert read_line(second) == "up\n"
        assert cluster.is_running()  # the second process still uses it
        with owner_connection(cluster) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        _, errors = second.communicate("\n", timeout=60)
        assert second.returncode == 0, errors
        assert not cluster.is_running()
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()


@pytest.mark.slow
def test_nested_uses_in_one_process_count_separately(data_dir: Path) -> None:
    with embedded_database(data_dir) as outer:
        with embedded_database(data_dir) as inner:
            assert inner.is_running()
        assert outer.is_running()
        with owner_connection(outer) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not outer.is_running()


@pytest.mark.slow
def test_a_killed_postmaster_does_not_block_the_next_start(data_dir: Path) -> None:
    with embedded_database(data_dir) as cluster:
        busy = owner_connection(cluster)  # a backend that must notice the crash and go away
        pid = postmaster_pid(cluster)
        os.kill(pid, signal.SIGKILL)
        wait_until_dead(pid)
        busy.close()
    assert (cluster.data_path / "postmaster.pid").exists()  # stale, left by the crash

    with embedded_database(data_dir) as cluster:
        assert postmaster_pid(cluster) != pid
        with owner_connection(cluster) as conn:
            assert conn.execute("SELECT postgis_version() IS NOT NULL").fetchone() == (True,)
    assert not cluster.is_running()


@pytest.mark.slow
def test_a_failed_start_names_the_reason_from_the_log(data_dir: Path) -> None:
    cluster = EmbeddedCluster(data_dir / "postgres")
    cluster.ensure_initialised()
    cluster.data_path.chmod(0o755)  # e.g. a careless copy: PostgreSQL insists on 0700 or 0750
    with pytest.raises(EmbeddedDatabaseError, match="has invalid permissions") as caught:
        cluster.start()
    assert str(cluster.log_path) in caught.value.detail
    assert "\n" not in caught.value.detail
    assert not cluster.is_running()
