"""Backups of an installation, and restoring them: the database and the data directory's files in one tar.

A backup is ``geolabel-backup/`` inside a tar file (mode 0600: it holds every label and the keys, so it is as
classified as the data itself):

- ``database.dump``: ``pg_dump --format=custom`` of the GeoLabel database, as the embedded cluster's
  superuser (row-level security is forced on the owner, so only a role that bypasses it sees every row);
- ``files/``: the data directory but for the embedded cluster (dumped instead), the spool and selftest
  scratch folders: the token and audit keys (the audit chain verifies only with its own key), chips, previews;
- ``BACKUP.txt``: GeoLabel's version, the schema revision, when and from which data directory;
- ``MANIFEST.sha256``: every file above with its sha256, checked before anything is restored.

Restoring loads the dump into a new database and only then swaps it for the current one, and moves the files
in only once the database is back: a restore that fails leaves the installation as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path, PurePosixPath

import psycopg
from psycopg import sql

from geo_label.db.embedded import (
    DATABASE,
    PORT,
    SUPERUSER_ROLE,
    EmbeddedCluster,
    embedded_database,
    find_bin_dir,
    provision_database,
)
from geo_label.errors import GeoLabelError
from tiling.state import file_sha256

ROOT = "geolabel-backup"
DUMP = "database.dump"
FILES = "files"
INFO = "BACKUP.txt"
MANIFEST = "MANIFEST.sha256"
#: Top-level entries of the data directory a backup leaves out: the embedded cluster (dumped instead), the
#: export spool, the backups folder, hidden files.
LEFT_OUT = frozenset({"postgres", "tmp", "backups"})
LEFT_OUT_PREFIXES = ("selftest-", ".")
TOOL_TIMEOUT_S = 3600
RESTORING = f"{DATABASE}_restoring"
REPLACED = f"{DATABASE}_replaced"


class BackupError(GeoLabelError):
    """A backup could not be made or restored; ``detail`` says why."""

    code = "backup"


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    files: int
    bytes: int
    revision: str


def _run(argv: list[str], what: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=TOOL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{what} could not run: {exc}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()] or ["no message"]
        raise BackupError(f"{what} failed: {lines[0].removeprefix(Path(argv[0]).name + ': ')}")


def _kept(data_dir: Path) -> list[Path]:
    return sorted(
        entry
        for entry in data_dir.iterdir()
        if entry.name not in LEFT_OUT and not entry.name.startswith(LEFT_OUT_PREFIXES)
    )


def _revision(cluster: EmbeddedCluster, database: str = DATABASE) -> str:
    with _superuser(cluster, database) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else "none"


def _superuser(cluster: EmbeddedCluster, database: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=str(cluster.socket_dir), port=PORT, dbname=database, user=SUPERUSER_ROLE, autocommit=True
    )


def known_revisions() -> frozenset[str]:
    """The schema revisions this version's migrations know: a backup at any other cannot be restored."""
    from alembic.script import ScriptDirectory

    from geo_label.db.engine import alembic_config

    return frozenset(rev.revision for rev in ScriptDirectory.from_config(alembic_config("")).walk_revisions())


def make_backup(data_dir: Path, out: Path, *, scratch: Path) -> BackupSummary:
    """Write the backup of the installation at ``data_dir`` (embedded database) to ``out`` (a tar file),
    complete or not at all; ``scratch`` is a private folder on the data volume for the work."""
    if out.exists():
        raise BackupError(f"{out} exists; give a new file name")
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent} is not a folder")
    with embedded_database(data_dir) as cluster, tempfile.TemporaryDirectory(dir=scratch) as work:
        scratch = Path(work)
        root = scratch / ROOT
        (root / FILES).mkdir(parents=True)
        dump = root / DUMP
        pg_dump = str(find_bin_dir() / "pg_dump")
        host = ["-h", str(cluster.socket_dir), "-p", str(PORT), "-U", SUPERUSER_ROLE]
        _run([pg_dump, *host, "--format=custom", "--file", str(dump), DATABASE], "pg_dump")
        revision = _revision(cluster)
        for entry in _kept(data_dir):
            target = root / FILES / entry.name
            if entry.is_dir():
                shutil.copytree(entry, target, symlinks=True)
            else:
                shutil.copy2(entry, target)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        (root / INFO).write_text(
            f"geolabel {version('geo-label')}\nschema {revision}\ncreated {stamp}\n"
            f"data_dir {data_dir.absolute()}\n"
        )
        listed = sorted(p for p in root.rglob("*") if p.is_file())
        lines = [f"{file_sha256(p)}  ./{p.relative_to(root).as_posix()}\n" for p in listed]
        (root / MANIFEST).write_text("".join(lines))
        partial = out.with_name(f".{out.name}.partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(root, arcname=ROOT)
        partial.chmod(0o600)
        partial.replace(out)
        size = sum(p.stat().st_size for p in listed)
    return BackupSummary(out, len(listed), size, revision)


@contextmanager
def _unpacked(backup: Path, scratch: Path) -> Iterator[Path]:
    """The backup's folder, unpacked into a private scratch folder and checked against its manifest."""
    with tempfile.TemporaryDirectory(dir=scratch) as work:
        try:
            with tarfile.open(backup) as tar:
                _extract(tar, work)
        except (tarfile.TarError, OSError) as exc:
            raise BackupError(f"{backup} is not a GeoLabel backup: {exc}") from None
        root = Path(work) / ROOT
        manifest = root / MANIFEST
        if not manifest.is_file() or not (root / DUMP).is_file():
            raise BackupError(f"{backup} is not a GeoLabel backup (no {MANIFEST} or {DUMP})")
        listed: set[str] = set()
        for line in manifest.read_text().splitlines():
            digest, _, name = line.partition("  ./")
            path = root / name
            listed.add(name)
            if not path.is_file() or file_sha256(path) != digest:
                raise BackupError(f"{backup}: {name} does not match the backup's manifest")
        present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {MANIFEST}
        if present != listed:
            raise BackupError(f"{backup}: {sorted(present ^ listed)[0]} is not in the backup's manifest")
        yield root


def _extract(tar: tarfile.TarFile, into: str) -> None:
    """Only plain files and folders under the backup's own folder are extracted: no absolute path, no
    ``..``, no link or device. (Debian 12's Python 3.11.2 predates tarfile's extraction filters, so the check
    is made here; the ``data`` filter is used as well where there is one.)"""
    for member in tar.getmembers():
        name = PurePosixPath(member.name)
        plain = member.isfile() or member.isdir()
        if name.is_absolute() or ".." in name.parts or not plain or name.parts[:1] != (ROOT,):
            raise BackupError(f"{member.name!r} is not a plain file of a GeoLabel backup")
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, filter="data")
    else:  # checked above
        tar.extractall(into)


def restore_backup(data_dir: Path, backup: Path, *, scratch: Path, known: frozenset[str]) -> str:
    """Replace the installation's database and files with the backup's; the backup's schema revision, which
    must be one of ``known`` (a backup of a newer version is refused before anything changes)."""
    if not backup.is_file():
        raise BackupError(f"no backup file {backup}")
    with _unpacked(backup, scratch) as root, embedded_database(data_dir) as cluster:
        with _superuser(cluster, "postgres") as connection:
            busy = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (DATABASE,),
            ).fetchone()
            if busy and int(str(busy[0])):
                raise BackupError("the database is in use: stop the service first (systemctl stop geolabel)")
            for name in (RESTORING, REPLACED):
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        provision_database(cluster, RESTORING)
        pg_restore = str(find_bin_dir() / "pg_restore")
        host = ["-h", str(cluster.socket_dir), "-p", str(PORT), "-U", SUPERUSER_ROLE]
        _run(
            [pg_restore, *host, "--exit-on-error", "--dbname", RESTORING, str(root / DUMP)],
            "pg_restore",
        )
        revision = _revision(cluster, RESTORING)
        if revision not in known:
            with _superuser(cluster, "postgres") as connection:
                connection.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(RESTORING)))
            raise BackupError(
                f"the backup's schema {revision} is not one this version knows (a newer version's?)"
            )
        with _superuser(cluster, "postgres") as connection:
            rename = "ALTER DATABASE {} RENAME TO {}"
            connection.execute(sql.SQL(rename).format(sql.Identifier(DATABASE), sql.Identifier(REPLACED)))
            connection.execute(sql.SQL(rename).format(sql.Identifier(RESTORING), sql.Identifier(DATABASE)))
            connection.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(REPLACED)))
        _replace_files(data_dir, root / FILES)
    return revision


def _replace_files(data_dir: Path, files: Path) -> None:
    """The backup's files in place of the data directory's (each top-level entry swapped by rename)."""
    for entry in _kept(data_dir):
        if not (files / entry.name).exists():
            _remove(entry)
    for entry in sorted(files.iterdir()):
        target = data_dir / entry.name
        incoming = data_dir / f".restoring-{entry.name}"
        _remove(incoming)
        if entry.is_dir():
            shutil.copytree(entry, incoming, symlinks=True)
        else:
            shutil.copy2(entry, incoming)
        if target.is_dir() and not target.is_symlink():
            old = data_dir / f".replaced-{entry.name}"
            target.rename(old)
            incoming.rename(target)
            shutil.rmtree(old)
        else:
            incoming.replace(target)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
