"""`geo-label backup` and `geo-label restore` on an embedded installation: a restore gives back the labels,
users, keys, chips and audit chain, the same export but for its time stamp, over existing data or onto a fresh
data directory; a damaged backup or a backup over an existing file is refused and changes nothing."""

from __future__ import annotations

import json
import os
import re
import tarfile
from pathlib import Path

import pytest

from geo_label.cli.selftest_command import CheckFailed, cli, draw_square, free_port, http, service

PASSWORD = "backup-test-pass-phrase-9"


def environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_LABEL_")}
    return {**env, "GEO_LABEL_DATA_DIR": str(data_dir)}


def without_time(export: Path) -> str:
    return re.sub(r'"exported_at":"[^"]*"', "", export.read_text())


def labelled_installation(data_dir: Path, work: Path) -> dict[str, str]:
    """An installation with a user, a project, an ingested scene and one annotation drawn through the API."""
    env = environment(data_dir)
    cli("init", env=env)
    cli("users", "add", "ana", "--clearance", "SECRET", "--citizenship", "USA", "--password-stdin",
        env=env, stdin=PASSWORD + "\n")  # fmt: skip
    cli("projects", "create", "harbor", "--marking", "UNCLASSIFIED", "--classes", "ship", env=env)
    cli("projects", "add-member", "harbor", "ana", "--role", "labeler", env=env)
    cli("sample-scene", str(work / "scene.tif"), "--size", "512", env=env)
    cli("ingest", str(work / "scene.tif"), "--project", "harbor", "--marking", "UNCLASSIFIED", env=env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with service(base, "127.0.0.1", port, env):
        _, body = http(f"{base}/api/v1/auth/token", data={"username": "ana", "password": PASSWORD})
        token = json.loads(body)["access_token"]
        draw_square(base, token, "ship")
    return env


def test_backup_and_restore_give_back_everything(
    embedded_data_dir: Path, second_embedded_data_dir: Path, tmp_path: Path
) -> None:
    env = labelled_installation(embedded_data_dir, tmp_path)
    before = tmp_path / "before.geojson"
    cli("export", "--project", "harbor", "--as", "ana", "-o", str(before), env=env)
    assert json.loads(before.read_text())["feature_count"] == 1
    backup = tmp_path / "installation.tar"
    out = cli("backup", str(backup), env=env)
    assert out.startswith(f"backup {backup}: database at schema ")
    assert backup.stat().st_mode & 0o777 == 0o600

    # What happens after the backup is undone by restoring it over the installation.
    cli("projects", "create", "later", "--marking", "UNCLASSIFIED", "--classes", "ship", env=env)
    (embedded_data_dir / "token-signing.key").write_text("00" * 32 + "\n")
    cli("restore", str(backup), env=env)
    assert "later" not in cli("projects", "list", env=env)
    assert (embedded_data_dir / "token-signing.key").read_text() != "00" * 32 + "\n"
    again = tmp_path / "again.geojson"
    cli("export", "--project", "harbor", "--as", "ana", "-o", str(again), env=env)
    assert without_time(again) == without_time(before)
    assert cli("audit", "verify", env=env).startswith("audit chain intact")

    # Onto a fresh data directory, as on a new host.
    fresh_data_dir = second_embedded_data_dir
    fresh = environment(fresh_data_dir)
    cli("restore", str(backup), env=fresh)
    elsewhere = tmp_path / "elsewhere.geojson"
    cli("export", "--project", "harbor", "--as", "ana", "-o", str(elsewhere), env=fresh)
    assert without_time(elsewhere) == without_time(before)
    assert cli("audit", "verify", env=fresh).startswith("audit chain intact")
    chips = sorted(p.relative_to(embedded_data_dir) for p in (embedded_data_dir / "chips").rglob("*"))
    assert chips and chips == sorted(
        p.relative_to(fresh_data_dir) for p in (fresh_data_dir / "chips").rglob("*")
    )


def test_a_damaged_backup_or_an_existing_target_is_refused_and_nothing_changes(
    embedded_data_dir: Path, tmp_path: Path
) -> None:
    env = environment(embedded_data_dir)
    cli("init", env=env)
    cli("projects", "create", "kept", "--marking", "UNCLASSIFIED", "--classes", "ship", env=env)
    backup = tmp_path / "b.tar"
    cli("backup", str(backup), env=env)
    with pytest.raises(CheckFailed, match="exists; give a new file name"):
        cli("backup", str(backup), env=env)

    damaged = tmp_path / "damaged.tar"
    with tarfile.open(backup) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    dump = tmp_path / "unpacked" / "geolabel-backup" / "database.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    with tarfile.open(damaged, "w") as tar:
        tar.add(tmp_path / "unpacked" / "geolabel-backup", arcname="geolabel-backup")
    cli("projects", "create", "after", "--marking", "UNCLASSIFIED", "--classes", "ship", env=env)
    with pytest.raises(CheckFailed, match=re.escape("database.dump does not match the backup's manifest")):
        cli("restore", str(damaged), env=env)
    listed = cli("projects", "list", env=env)
    assert "kept" in listed and "after" in listed
    not_a_backup = tmp_path / "scene.tar"
    not_a_backup.write_bytes(b"not a tar file")
    with pytest.raises(CheckFailed, match="is not a GeoLabel backup"):
        cli("restore", str(not_a_backup), env=env)
