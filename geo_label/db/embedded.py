"""GeoLabel's embedded default database: a private PostgreSQL + PostGIS cluster under the data directory.

When no ``GEO_LABEL_DATABASE_URL`` is set, GeoLabel needs a database without asking an administrator for one.
It runs its own cluster in ``DATA_DIR/postgres`` from the distribution's PostgreSQL binaries:

- ``data/``: the cluster (initdb), ``run/``: the server's unix socket (mode 0700), ``postgres.log``: its log;
- ``lease``: every GeoLabel process using the cluster holds a shared ``flock`` on it; the last one to leave
  (the one that can turn its lock exclusive) stops the server. Locks die with their process, so a crash never
  leaves anything that blocks the next start;
- ``init.lock``: an exclusive ``flock`` so two processes starting at once do not both run initdb or pg_ctl;
- ``provisioned``: written once the role, the database and PostGIS exist.

The server listens on no TCP address at all: clients reach it through the socket directory only.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql

from geo_label.errors import GeoLabelError

DATABASE = "geo_label"
OWNER_ROLE = "geo_label_owner"
#: The cluster superuser; only GeoLabel's own provisioning connects as it.
SUPERUSER_ROLE = "postgres"
#: The system user the server runs as when GeoLabel runs as root (created by the Debian package).
SERVER_OS_USER = "postgres"
#: Only names the socket file (``run/.s.PGSQL.5432``): nothing listens on a TCP port.
PORT = 5432
#: Where Debian and Ubuntu install each PostgreSQL major version (``/usr/lib/postgresql/15/bin``).
SEARCH_ROOT = Path("/usr/lib/postgresql")
PG_CONFIG = "pg_config"
REQUIRED_TOOLS = ("initdb", "pg_ctl", "postgres")
INSTALL_HINT = "install the postgresql-15-postgis-3 package"
START_TIMEOUT_S = 60
TOOL_TIMEOUT_S = 180
#: sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107
#: How long to wait for a killed postmaster to be reaped and for its children to let go of its shared memory.
CRASH_CLEANUP_WAIT_S = 15.0
#: PostgreSQL's refusals while the remains of a killed server are still going away.
_TRANSIENT_AFTER_CRASH = re.compile(r'pre-existing shared memory block|lock file ".*" already exists')
_LOG_LEVEL = re.compile(r"\b(?:FATAL|PANIC|ERROR|LOG|WARNING|DETAIL|HINT):\s+")


class EmbeddedDatabaseError(GeoLabelError):
    """The embedded PostgreSQL could not be found, initialised, started or stopped; ``detail`` says why."""

    code = "embedded_database"


def find_bin_dir() -> Path:
    """Where initdb, pg_ctl and postgres are: the newest ``SEARCH_ROOT/*/bin``, or ``pg_config --bindir``."""
    candidates = sorted(
        SEARCH_ROOT.glob("*/bin"), key=lambda path: _version_key(path.parent.name), reverse=True
    )
    for candidate in candidates:
        if _has_server_tools(candidate):
            return candidate
    fallback = _pg_config_bindir()
    if fallback is not None and _has_server_tools(fallback):
        return fallback
    raise EmbeddedDatabaseError(
        f"No PostgreSQL server was found in {SEARCH_ROOT} or by pg_config; {INSTALL_HINT} "
        "or set GEO_LABEL_DATABASE_URL to an existing PostGIS database."
    )


def _has_server_tools(bin_dir: Path) -> bool:
    return all((bin_dir / tool).is_file() for tool in REQUIRED_TOOLS)


def _version_key(name: str) -> tuple[int, ...]:
    """``"9.6"`` -> (9, 6); names that are not versions sort last."""
    try:
        return tuple(int(part) for part in name.split("."))
    except ValueError:
        return (-1,)


def _pg_config_bindir() -> Path | None:
    executable = shutil.which(PG_CONFIG)
    if executable is None:
        return None
    try:
        done = subprocess.run(
            [executable, "--bindir"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def _server_account() -> pwd.struct_passwd | None:
    """The account the server must run as when we are root (PostgreSQL refuses root); None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        raise EmbeddedDatabaseError(
            f"GeoLabel runs as root but there is no '{SERVER_OS_USER}' system user to run PostgreSQL; "
            f"{INSTALL_HINT}."
        ) from None


def _as_server_user(argv: Sequence[str]) -> list[str]:
    return ["runuser", "-u", SERVER_OS_USER, "--", *argv] if _server_account() else list(argv)


def _tool_env() -> dict[str, str]:
    """The caller's environment without PG* variables (they would redirect the tools) and with C messages."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no message")


def _run(
    argv: Sequence[str], *, cwd: Path, what: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool as the server's user; any failure is one line, never a traceback."""
    command = _as_server_user(argv)
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=_tool_env(),
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
            check=False,
        )
    except OSError as exc:
        raise EmbeddedDatabaseError(f"Could not {what}: cannot run {command[0]} ({exc.strerror}).") from None
    except subprocess.TimeoutExpired:
        raise EmbeddedDatabaseError(f"Could not {what}: {Path(argv[0]).name} timed out.") from None
    if check and done.returncode != 0:
        raise EmbeddedDatabaseError(f"Could not {what}: {_first_line(done.stderr or done.stdout)}")
    return done


def _log_reason(log_path: Path, offset: int) -> str:
    """The most telling line the server logged since ``offset``: the last FATAL/PANIC/ERROR, else the last."""
    try:
        with log_path.open("rb") as log:
            log.seek(offset)
            lines = [
                line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()
            ]
    except OSError:
        return "the server wrote no log"
    serious = [line for line in lines if re.search(r"\b(?:FATAL|PANIC|ERROR):", line)]
    chosen = (serious or lines or ["the server wrote no log"])[-1]
    match = _LOG_LEVEL.search(chosen)
    return chosen[match.end() :] if match else chosen


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@dataclass(frozen=True)
class EmbeddedCluster:
    """A private PostgreSQL cluster at ``root`` (``DATA_DIR/postgres``), reachable by unix socket only."""

    root: Path

    def __post_init__(self) -> None:
        # The tools run with the cluster root as working directory, so a relative root would point elsewhere.
        object.__setattr__(self, "root", self.root.absolute())

    @property
    def data_path(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def _marker_path(self) -> Path:
        return self.root / "provisioned"

    def url(self, database: str = DATABASE, user: str = OWNER_ROLE) -> str:
        """A SQLAlchemy URL through the socket directory (no host part: there is no TCP listener)."""
        query = urlencode({"host": str(self.socket_dir), "port": PORT}, quote_via=quote, safe="/")
        return f"postgresql+psycopg://{quote(user, safe='')}@/{quote(database, safe='')}?{query}"

    def ensure_initialised(self) -> None:
        """Create the cluster, the role ``geo_label_owner``, the database ``geo_label``, PostGIS; idempotent.

        Local connections use ``trust`` authentication (TCP is rejected in pg_hba.conf and not even listened
        on). That is acceptable only because the one way in, the socket directory, is mode 0700 and owned by
        the server's user: only that user (and root) can connect at all. The owner role is not a superuser;
        only this provisioning connects as the superuser. Leaves the server running or stopped as it found it.
        """
        with self._init_lock():
            self._initdb_if_needed()
            if self._marker_path.exists():
                return
            was_running = self.is_running()
            self._start_unlocked()
            try:
                self._provision()
            finally:
                if not was_running:
                    self.stop()

    def start(self) -> None:
        """Start the server unless it runs, and wait until it accepts connections.

        A ``postmaster.pid`` left by a crash does not block: PostgreSQL removes it when its process is gone.
        For a moment after a crash the dead postmaster is an unreaped zombie and its children still hold its
        shared memory; PostgreSQL refuses to start then (rightly: they may still write), so that is retried.
        """
        if not (self.data_path / "PG_VERSION").is_file():
            raise EmbeddedDatabaseError(f"The embedded database in {self.root} is not initialised.")
        with self._init_lock():
            self._start_unlocked()

    def stop(self) -> None:
        """Fast shutdown (open sessions are rolled back); nothing to do when the server is not running."""
        if not self.is_running():
            return
        done = self._pg_ctl("stop", "-m", "fast", "-w", "-t", str(START_TIMEOUT_S), what="stop PostgreSQL")
        if done.returncode != 0 and self.is_running():
            raise EmbeddedDatabaseError(f"Could not stop PostgreSQL: {_first_line(done.stderr)}")

    def is_running(self) -> bool:
        if not (self.data_path / "PG_VERSION").is_file():
            return False
        done = self._pg_ctl("status", what="ask PostgreSQL for its status")
        if done.returncode not in (0, 3, 4):  # 3: no server running, 4: no accessible data directory
            raise EmbeddedDatabaseError(
                f"Could not ask PostgreSQL for its status: {_first_line(done.stderr)}"
            )
        return done.returncode == 0 and not self._postmaster_is_zombie()

    @contextmanager
    def _init_lock(self) -> Iterator[None]:
        """Serialises initdb and pg_ctl start between processes (flock: released if the holder dies)."""
        self._private_dir(self.root)
        fd = os.open(self.root / "init.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _initialise_and_start(self) -> None:
        """ensure_initialised + start under one lock, without a stop and start in between on a first run."""
        with self._init_lock():
            self._initdb_if_needed()
            self._start_unlocked()
            if not self._marker_path.exists():
                self._provision()

    def _start_unlocked(self) -> None:
        if self.is_running():
            return
        self._check_socket_path()
        self._private_dir(self.socket_dir)
        deadline = time.monotonic() + CRASH_CLEANUP_WAIT_S
        while True:
            reason = self._try_start()
            if reason is None or self.is_running():
                return
            if not _TRANSIENT_AFTER_CRASH.search(reason) or time.monotonic() > deadline:
                raise EmbeddedDatabaseError(f"PostgreSQL did not start: {reason} (see {self.log_path}).")
            time.sleep(0.5)

    def _postmaster_is_zombie(self) -> bool:
        """A killed postmaster whose parent has not reaped it still "exists" for pg_ctl and PostgreSQL.

        When GeoLabel is PID 1 of a container, the orphaned postmaster is its child: reap it to restart.
        """
        try:
            pid = int((self.data_path / "postmaster.pid").read_text().split()[0])
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return False
        if state != "Z":
            return False
        with suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return True

    def _pg_ctl(self, *args: str, what: str) -> subprocess.CompletedProcess[str]:
        pg_ctl = str(find_bin_dir() / "pg_ctl")
        return _run([pg_ctl, *args, "-D", str(self.data_path)], cwd=self.root, what=what, check=False)

    def _try_start(self) -> str | None:
        """One ``pg_ctl start``; the reason from the log when it fails, else None."""
        options = f"-k {shlex.quote(str(self.socket_dir))} -c listen_addresses='' -p {PORT}"
        options += " -c unix_socket_permissions=0700"
        offset = _size(self.log_path)
        done = self._pg_ctl(
            "start",
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "-l",
            str(self.log_path),
            "-o",
            options,
            what="start PostgreSQL",
        )
        return None if done.returncode == 0 else _log_reason(self.log_path, offset)

    def _initdb_if_needed(self) -> None:
        """initdb into a scratch directory, then rename it: an interrupted initdb leaves no half cluster."""
        if (self.data_path / "PG_VERSION").is_file():
            return
        initdb = str(find_bin_dir() / "initdb")
        self._check_socket_path()  # before initdb: a cluster that can never start is not worth creating
        self._check_server_can_write()
        scratch = self.root / "data.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        self._marker_path.unlink(missing_ok=True)
        # --locale=C: no dependency on which locales the host generated; UTF8 stores every script.
        argv = [initdb, "-D", str(scratch), "-U", SUPERUSER_ROLE, "--encoding=UTF8", "--locale=C"]
        argv += ["--auth-local=trust", "--auth-host=reject"]
        _run(argv, cwd=self.root, what="initialise the embedded database")
        scratch.rename(self.data_path)

    def _provision(self) -> None:
        """Role, database, schema ownership and PostGIS, as the cluster superuser; safe to repeat."""
        provision_database(self, DATABASE)
        self._marker_path.write_text("role, database and postgis created\n")

    def _superuser_connection(self, database: str) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=str(self.socket_dir), port=PORT, dbname=database, user=SUPERUSER_ROLE, autocommit=True
        )

    def _private_dir(self, path: Path) -> None:
        """Create ``path`` mode 0700, owned by the server's user (postgres when we are root)."""
        account = _server_account()
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = path.stat()
            if info.st_mode & 0o777 != 0o700:
                path.chmod(0o700)
            if account and (info.st_uid, info.st_gid) != (account.pw_uid, account.pw_gid):
                os.chown(path, account.pw_uid, account.pw_gid)
        except OSError as exc:
            raise EmbeddedDatabaseError(f"Could not prepare {path}: {exc.strerror}.") from None

    def _check_server_can_write(self) -> None:
        """As root, fail early and clearly when a parent directory keeps the postgres user out."""
        if _server_account() is None:
            return
        done = _run(["test", "-w", str(self.root)], cwd=Path("/"), what="check access", check=False)
        if done.returncode != 0:
            raise EmbeddedDatabaseError(
                f"The {SERVER_OS_USER} user cannot write to {self.root}; make its parent directories "
                "traversable (chmod o+x) or choose another GEO_LABEL_DATA_DIR."
            )

    def _check_socket_path(self) -> None:
        socket_path = self.socket_dir / f".s.PGSQL.{PORT}"
        if len(os.fsencode(socket_path)) > MAX_SOCKET_PATH_BYTES:
            raise EmbeddedDatabaseError(
                f"The socket path {socket_path} is longer than {MAX_SOCKET_PATH_BYTES} bytes; "
                "choose a shorter GEO_LABEL_DATA_DIR."
            )


def provision_database(cluster: EmbeddedCluster, database: str) -> None:
    """The roles, the database ``database`` owned by ``geo_label_owner``, and PostGIS in it, as the cluster's
    superuser; safe to repeat. (A restore provisions a second database this way before swapping it in.)"""
    try:
        with cluster._superuser_connection("postgres") as conn:
            _create_owner_and_database(conn, database)
            # The service role: logs in, owns nothing, never superuser nor BYPASSRLS (MARKINGS.md 6).
            conn.execute(
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'geo_label_app') THEN "
                "CREATE ROLE geo_label_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE "
                "NOINHERIT; END IF; END $$"
            )
        with cluster._superuser_connection(database) as conn:
            conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(OWNER_ROLE)))
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            # Lets bbox queries under RLS use the GiST index (see migration 0003 for why it is safe).
            conn.execute("ALTER FUNCTION geometry_overlaps(geometry, geometry) LEAKPROOF")
    except psycopg.errors.FeatureNotSupported as exc:
        raise EmbeddedDatabaseError(
            f"PostGIS is not available: {_first_line(str(exc))}; {INSTALL_HINT}."
        ) from None
    except psycopg.Error as exc:
        raise EmbeddedDatabaseError(
            f"Could not provision the embedded database: {_first_line(str(exc))}"
        ) from None


def _create_owner_and_database(conn: psycopg.Connection[tuple[object, ...]], database: str) -> None:
    owner = sql.Identifier(OWNER_ROLE)
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (OWNER_ROLE,)).fetchone() is None:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(owner))
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
        create = "CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0"
        conn.execute(sql.SQL(create).format(sql.Identifier(database), owner))


@contextmanager
def embedded_database(data_dir: Path) -> Iterator[EmbeddedCluster]:
    """The running embedded cluster of ``data_dir``, shared with every other GeoLabel process using it.

    Holds a shared lock on ``lease`` while in use. On exit, if the lock can be made exclusive, no other
    process uses the cluster and it is stopped; otherwise it is left running for the others. The shared lock
    is taken before starting, so a newcomer waits while the last user is stopping the server. ``flock`` locks
    belong to the open file, not the process, so nested uses in one process count separately; Python's file
    descriptors are not inherited, so the server never holds a lease.
    """
    cluster = EmbeddedCluster(data_dir / "postgres")
    cluster._private_dir(cluster.root)
    lease = os.open(cluster.root / "lease", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lease, fcntl.LOCK_SH)
        cluster._initialise_and_start()
        try:
            yield cluster
        finally:
            _stop_if_last(lease, cluster)
    finally:
        os.close(lease)


def _stop_if_last(lease: int, cluster: EmbeddedCluster) -> None:
    fcntl.flock(lease, fcntl.LOCK_UN)
    try:
        fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another GeoLabel process still uses the cluster
    cluster.stop()
