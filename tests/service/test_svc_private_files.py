"""Files under the data directory are served only as regular files, never through a symbolic link (issue 20,
files at rest)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from geo_label.db.models import CHIPS
from tests.pg import TestDatabase
from tests.service.conftest import token
from tests.world import add_member, ingest, make_project, make_user, unique


def test_a_preview_replaced_by_a_link_is_not_served(
    client: TestClient, test_db: TestDatabase, data_dir: Path, utm_image: Path, tmp_path: Path
) -> None:
    project = make_project(test_db, "UNCLASSIFIED")
    analyst = make_user(test_db, unique("analyst"), "U")
    add_member(test_db, project, analyst)
    ingest(test_db, project, utm_image, data_dir, "UNCLASSIFIED")
    auth = token(client, analyst)
    chip = client.get(f"/api/v1/chips?project={project}&limit=1", headers=auth).json()["items"][0]
    url = f"/api/v1/chips/{chip['id']}/preview"
    served = client.get(url, headers=auth)
    assert served.status_code == 200 and served.content[:2] == b"\xff\xd8"
    with test_db.as_system() as session:
        path = Path(
            session.execute(select(CHIPS.c.preview_path).where(CHIPS.c.id == chip["id"])).scalar_one()
        )
    decoy = tmp_path / "decoy.jpg"
    decoy.write_bytes(served.content)
    path.unlink()
    path.symlink_to(decoy)
    assert client.get(url, headers=auth).status_code == 404
