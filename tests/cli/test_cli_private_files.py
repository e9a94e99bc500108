"""What GeoLabel writes is its service account's alone (issue 20, files at rest): chips, previews, the index,
run state and exports are 0600 in 0700 folders, another local account reads none of them, a data directory
open to others is refused, and a symbolic link planted where a file belongs is never followed."""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from geo_label.private_files import UnsafeDataDirError, prepare_data_dir, read_regular_file
from tests.pg import TestDatabase
from tests.world import add_member, ingest, make_project, make_user, unique

REPO = Path(__file__).resolve().parents[2]
OTHER_ACCOUNT = "nobody"


def geo_label(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo_label", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=REPO,
    )


def everything_under(root: Path) -> list[Path]:
    return [root, *sorted(root.rglob("*"))]


def readable_by_another_account(path: Path) -> bool:
    """Whether the ``nobody`` account can read ``path`` (a file) or list it (a folder)."""
    command = ["ls", str(path)] if path.is_dir() else ["head", "-c", "1", str(path)]
    done = subprocess.run(["runuser", "-u", OTHER_ACCOUNT, "--", *command], capture_output=True, timeout=30)
    return done.returncode == 0


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder in /tmp that other accounts may enter: the worst place an operator could put outputs."""
    folder = Path(tempfile.mkdtemp(prefix="geo-label-private-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runuser") is None, reason="reading as another account needs root"
)


def test_tiling_writes_nothing_another_account_can_read(utm_image: Path, shared_tmp: Path) -> None:
    out = shared_tmp / "chips"
    result = geo_label("tile", str(utm_image), "--out", str(out), "--size", "256", "--marking", "S//NF")
    assert result.returncode == 0, result.stderr
    written = everything_under(out)
    assert len(written) > 60, "chips, previews, the index and run state"
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    if os.geteuid() == 0 and shutil.which("runuser"):
        assert not any(readable_by_another_account(p) for p in written)


@needs_root
def test_an_export_is_for_its_writer_alone(
    test_db: TestDatabase, tmp_path: Path, utm_image: Path, shared_tmp: Path
) -> None:
    project = make_project(test_db, "SECRET")
    analyst = make_user(test_db, unique("analyst"), "S")
    add_member(test_db, project, analyst)
    ingest(test_db, project, utm_image, tmp_path, "SECRET")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env.update(
        GEO_LABEL_DATABASE_URL=test_db.owner_url,
        GEO_LABEL_DATA_DIR=str(shared_tmp / "data"),
        GEO_LABEL_AUDIT_KEY=test_db.database.audit_key.decode(),
    )
    exported = shared_tmp / "out" / "labels.geojson"
    result = geo_label("export", "--project", str(project), "--as", analyst, "-o", str(exported), env=env)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    assert stat.S_IMODE((shared_tmp / "data").stat().st_mode) == 0o700
    assert not readable_by_another_account(exported)


def test_a_data_directory_open_to_others_is_refused(tmp_path: Path) -> None:
    fresh = prepare_data_dir(tmp_path / "fresh", traversable=False)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    nested = prepare_data_dir(tmp_path / "var" / "demo", traversable=True)
    assert [stat.S_IMODE(p.stat().st_mode) for p in (nested.parent, nested)] == [0o711, 0o711]
    for mode in (0o755, 0o750, 0o702, 0o720):
        shared = tmp_path / f"shared-{mode:o}"
        shared.mkdir()
        shared.chmod(mode)
        with pytest.raises(UnsafeDataDirError, match="chmod"):
            prepare_data_dir(shared, traversable=False)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    with pytest.raises(UnsafeDataDirError, match="a-file"):
        prepare_data_dir(a_file, traversable=False)


def test_the_cli_refuses_an_open_data_directory_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "open"
    data.mkdir()
    data.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    env.update(
        GEO_LABEL_DATA_DIR=str(data), GEO_LABEL_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/x"
    )
    result = geo_label("db", "upgrade", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "other accounts" in result.stderr


def test_a_symbolic_link_is_never_read_as_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.txt"
    secret.write_bytes(b"not a preview")
    (tmp_path / "link.jpg").symlink_to(secret)
    assert read_regular_file(tmp_path / "link.jpg", limit=1024) is None
    assert read_regular_file(secret, limit=1024) == b"not a preview"
    assert read_regular_file(tmp_path, limit=1024) is None
    assert read_regular_file(secret, limit=4) is None, "larger than its limit"


@needs_root
def test_a_service_group_may_read_and_nobody_else(utm_image: Path, shared_tmp: Path) -> None:
    group = "geolabel-readers"
    if subprocess.run(["getent", "group", group], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", "--system", group], check=True, capture_output=True, timeout=30)
    data = prepare_data_dir(shared_tmp / "grouped", traversable=False, service_group=group)
    info = data.stat()
    assert stat.S_IMODE(info.st_mode) == 0o2750 and grp.getgrgid(info.st_gid).gr_name == group
    env = {**os.environ, "GEO_LABEL_SERVICE_GROUP": group}
    out = data / "chips"
    result = geo_label("tile", str(utm_image), "--out", str(out), "--size", "256", env=env)
    assert result.returncode == 0, result.stderr
    for path in everything_under(out):
        mode = stat.S_IMODE(path.stat().st_mode) & 0o777
        assert mode == (0o750 if path.is_dir() else 0o640), (path, oct(mode))
        assert grp.getgrgid(path.stat().st_gid).gr_name == group, "setgid: the group's, as the folder is"
    assert not any(readable_by_another_account(p) for p in everything_under(out))
    with pytest.raises(UnsafeDataDirError, match="names no group"):
        prepare_data_dir(shared_tmp / "nogroup", traversable=False, service_group="no-such-group-here")
