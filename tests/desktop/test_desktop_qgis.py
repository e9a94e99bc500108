"""The analyst's own GIS against a live GeoLabel (issue 22): Debian 12's QGIS 3.22 (python3-qgis, headless)
and GDAL 3.6 (gdal-bin) as a closed network has them, nothing added.

Each reader has a read-only access token in a QGIS Basic authentication configuration (or GDAL_HTTP_AUTH=
BASIC): QGIS's own OGC API provider and ogrinfo load exactly what each may read; a wrong, revoked or expired
token and the account password get 401; a token writes nothing; QGIS opens the GeoPackage export and the chip
index, the banner in their metadata. `make test` installs both; `pytest -m 'not qgis'` skips them locally.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from access_control import parse_marking
from api.app import build_state, create_app
from geo_label import access_tokens, annotations
from geo_label.db.models import CHIPS, IMAGES
from geo_label.settings import PasswordScheme, Settings
from imagery.synthetic import SceneSpec, write_scene
from tests import pg
from tests.service.test_svc_workflow_support import footprint, square
from tests.ui.browser import live_server
from tests.world import PASSWORD, add_member, caller, ingest, make_project, make_user, unique

pytestmark = [pytest.mark.qgis, pytest.mark.slow]

DEBIAN_PYTHON = "/usr/bin/python3"
OGRINFO = "/usr/bin/ogrinfo"
SCRIPT = Path(__file__).with_name("qgis_reads.py")
#: Who reads what: TOP SECRET sees all four labels, SECRET three, UNCLASSIFIED the two plain ones and
#: nothing at all of the TOP SECRET scene (neither its label nor its place).
CLEARANCES = {"ts": "TS", "s": "S", "u": "U"}
EXPECTED = {"ts": 4, "s": 3, "u": 2}


def debian_tools() -> None:
    if not (Path(DEBIAN_PYTHON).exists() and Path(OGRINFO).exists()):
        pytest.skip("needs Debian's python3-qgis and gdal-bin (make test installs them)")
    found = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import qgis.core"], capture_output=True, env=clean_env(), timeout=60
    )
    if found.returncode != 0:
        pytest.skip("needs Debian's python3-qgis (make test installs it)")


def clean_env(**extra: str) -> dict[str, str]:
    """Debian's tools as a workstation runs them: none of the test's virtualenv or GDAL settings."""
    keep = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
    return {**keep, "QT_QPA_PLATFORM": "offscreen", "PROJ_NETWORK": "OFF", "GDAL_HTTP_TIMEOUT": "30", **extra}


@dataclass
class Desk:
    origin: str
    project: uuid.UUID
    users: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    labels: dict[str, set[str]] = field(default_factory=dict)  # reader -> label ids they may read
    data_dir: Path = Path()
    index: Path = Path()


def scene(directory: Path, name: str, origin: tuple[float, float]) -> Path:
    spec = SceneSpec(width=512, height=256, seed=len(name) + 7, origin=origin)
    return write_scene(directory / f"{name}.tif", spec)


@pytest.fixture(scope="module")
def desk(test_db: pg.TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    debian_tools()
    data_dir = tmp_path_factory.mktemp("desk-data")
    scenes = tmp_path_factory.mktemp("desk-scenes")
    project = make_project(test_db, "UNCLASSIFIED")
    users = {role: make_user(test_db, unique(f"desk{role}"), level) for role, level in CLEARANCES.items()}
    for name in users.values():
        add_member(test_db, project, name, "labeler")
    plain = ingest(test_db, project, scene(scenes, "plain", (399960.0, 4500000.0)), data_dir, "UNCLASSIFIED")
    secret = ingest(test_db, project, scene(scenes, "top", (449960.0, 4550000.0)), data_dir, "TOP SECRET")
    with test_db.as_system() as session:
        chips = {
            image: list(session.execute(select(CHIPS.c.id).where(CHIPS.c.image_id == image)).scalars())
            for image in (plain, secret)
        }
        index = Path(session.execute(select(IMAGES.c.chips_dir).where(IMAGES.c.id == plain)).scalar_one())
    author = caller(test_db, users["ts"])
    made: dict[str, str] = {}
    for key, chip, marking in (
        ("u1", chips[plain][0], "UNCLASSIFIED"),
        ("u2", chips[plain][1], "UNCLASSIFIED"),
        ("s", chips[plain][0], "SECRET"),
        ("ts", chips[secret][0], None),  # the chip's own marking: TOP SECRET//NOFORN (no REL TO at ingest)
    ):
        body = annotations.AnnotationInput(
            chip_id=chip,
            label_class="vehicle",
            geometry=square(footprint(test_db, chip), 0.1 + 0.2 * len(made), 0.4),
            marking=parse_marking(marking) if marking else None,
        )
        with test_db.as_caller(author) as session:
            made[key] = str(annotations.create_annotation(session, author, body)["id"])
    labels = {
        "ts": set(made.values()),
        "s": {made["u1"], made["u2"], made["s"]},
        "u": {made["u1"], made["u2"]},
    }
    tokens = {}
    for role, name in users.items():
        who = caller(test_db, name)
        with test_db.as_caller(who) as session:
            tokens[role] = access_tokens.create_token(session, who, label="QGIS", max_days=90).token
    settings = Settings(
        data_dir=data_dir, token_signing_key=SecretStr("q" * 48), password_scheme=PasswordScheme.PBKDF2_SHA256
    )
    with live_server(create_app(build_state(settings, test_db.database))) as origin:
        yield Desk(origin, project, users, tokens, labels, data_dir, index_dir(index))


def index_dir(chips_dir: Path) -> Path:
    path = chips_dir / "index.gpkg"
    assert path.is_file(), f"ingest wrote no {path}"
    return path


def qgis(job: dict[str, Any], profile: Path) -> dict[str, Any]:
    profile.mkdir()
    done = subprocess.run(
        [DEBIAN_PYTHON, str(SCRIPT)],
        input=json.dumps({**job, "profile": str(profile)}),
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_qgis_loads_exactly_what_each_reader_may_read(desk: Desk, tmp_path: Path) -> None:
    readers = {role: [desk.users[role], token] for role, token in desk.tokens.items()}
    readers["password"] = [desk.users["ts"], PASSWORD]  # the account password is never accepted
    job = {"ogc": f"{desk.origin}/ogc", "collection": str(desk.project), "readers": readers, "files": {}}
    answer = qgis(job, tmp_path / "qgis")
    for role, count in EXPECTED.items():
        assert answer["features"][role] == count, (role, answer)
        assert set(answer["ids"][role]) == desk.labels[role]
    assert not answer["features"]["password"], answer  # no layer, or an empty one: nothing read


def ogr_count(desk: Desk, username: str, secret: str) -> tuple[int | None, str]:
    """ogrinfo (GDAL 3.6) with Basic: the collection's feature count, or None and what GDAL said."""
    env = clean_env(GDAL_HTTP_AUTH="BASIC", GDAL_HTTP_USERPWD=f"{username}:{secret}")
    done = subprocess.run(
        [OGRINFO, "-ro", "-so", f"OAPIF:{desk.origin}/ogc", str(desk.project)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    found = re.search(r"Feature Count: (\d+)", done.stdout)
    return (int(found.group(1)) if found else None), done.stdout + done.stderr


def test_ogrinfo_counts_the_same_and_refusals_are_401(test_db: pg.TestDatabase, desk: Desk) -> None:
    for role, count in EXPECTED.items():
        got, said = ogr_count(desk, desk.users[role], desk.tokens[role])
        assert got == count, (role, said)
    username = desk.users["s"]
    who = caller(test_db, username)
    with test_db.as_caller(who) as session:
        revoked = access_tokens.create_token(session, who, label="old laptop", max_days=90)
        access_tokens.revoke_token(session, who, revoked.id)
    past = datetime.now(UTC) - timedelta(days=3)
    with test_db.as_caller(who) as session:
        expired = access_tokens.create_token(
            session, who, label="expired", max_days=90, now=past, expires_at=past + timedelta(days=1)
        )
    for secret in (PASSWORD, revoked.token, expired.token, desk.tokens["s"][:-3] + "abc"):
        got, said = ogr_count(desk, username, secret)
        assert got is None and "401" in said, said
        direct = httpx.get(f"{desk.origin}/ogc/collections", auth=(username, secret), timeout=30)
        assert direct.status_code == 401
        assert direct.headers["www-authenticate"] == 'Basic realm="GeoLabel"'


def test_a_token_writes_nothing(desk: Desk) -> None:
    auth = (desk.users["ts"], desk.tokens["ts"])
    written = httpx.post(f"{desk.origin}/api/v1/annotations", auth=auth, json={}, timeout=30)
    assert written.status_code == 403 and "only reads" in written.json()["detail"]
    listed = httpx.get(f"{desk.origin}/api/v1/annotations?project={desk.project}", auth=auth, timeout=30)
    assert listed.status_code == 200 and listed.json()["items"]


def test_qgis_opens_the_geopackage_export_and_the_chip_index(desk: Desk, tmp_path: Path) -> None:
    files: dict[str, list[str]] = {"index": [str(desk.index), "chips"]}
    banners = {"ts": "TOP SECRET//NOFORN", "u": "UNCLASSIFIED"}
    for role in banners:
        response = httpx.get(
            f"{desk.origin}/api/v1/projects/{desk.project}/export?format=gpkg",
            auth=(desk.users[role], desk.tokens[role]),
            timeout=60,
        )
        assert response.status_code == 200, response.text
        path = tmp_path / f"{role}.gpkg"
        path.write_bytes(response.content)
        files[role] = [str(path), "labels"]
    answer = qgis({"ogc": "", "collection": "", "readers": {}, "files": files}, tmp_path / "qgis")["files"]
    for role, banner in banners.items():
        assert answer[role] == {"valid": True, "count": EXPECTED[role], "banner": banner, "crs": "EPSG:4326"}
    assert answer["index"]["valid"] and answer["index"]["count"] == 2
    assert answer["index"]["banner"] == "UNCLASSIFIED" and answer["index"]["crs"] == "EPSG:4326"
    assert shutil.which("ogrinfo") is not None
