"""A project to request releases in (issue 15): the service and CLI tests' shared world."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from access_control import default_registry, parse_marking
from geo_label import annotations, releases
from geo_label.db.models import CHIPS
from tests.pg import TestDatabase
from tests.world import add_member, caller, ingest, make_project, make_user, unique

REGISTRY = default_registry()
OFFICER = frozenset({"foreign_disclosure_officer"})
RELEASABLE = "SECRET//REL TO USA, GBR"


@dataclass
class ReleaseWorld:
    db: TestDatabase
    project: uuid.UUID
    chip: uuid.UUID
    centre: tuple[float, float]
    requester: str
    officer: str
    officer_member: str
    low_officer: str
    labeler: str
    ids: dict[str, str]

    def draw(self, who: str, k: int, marking: str) -> str:
        lon, lat = self.centre
        point = {"type": "Point", "coordinates": [lon + k * 1e-5, lat]}
        person = caller(self.db, who)
        with self.db.as_caller(person) as session:
            row = annotations.create_annotation(
                session,
                person,
                annotations.AnnotationInput(
                    chip_id=self.chip,
                    label_class="vehicle",
                    geometry=point,
                    marking=parse_marking(marking, REGISTRY),
                ),
            )
        return str(row["id"])

    def request(self, who: str | None = None, recipient: str = "GBR") -> Any:
        person = caller(self.db, who or self.requester)
        with self.db.as_caller(person) as session:
            return releases.request_release(
                session, person, project_id=self.project, recipient=recipient, registry=REGISTRY
            )

    def decide(
        self, who: str, request_id: uuid.UUID, *, approve: bool = True, why: str = "releasable"
    ) -> Any:
        person = caller(self.db, who)
        with self.db.as_caller(person) as session:
            return releases.decide(session, person, request_id, approve=approve, justification=why)

    def download(self, who: str, request_id: uuid.UUID) -> tuple[bytes, Any]:
        person = caller(self.db, who)
        out = io.BytesIO()
        with self.db.as_caller(person) as session:
            summary = releases.download_release(session, person, request_id, out, registry=REGISTRY)
        return out.getvalue(), summary

    def get(self, who: str, request_id: uuid.UUID) -> Any:
        person = caller(self.db, who)
        with self.db.as_caller(person) as session:
            return releases.get_release(session, person, request_id)


def build_release_world(test_db: TestDatabase, utm_image: Path, data_dir: Path) -> ReleaseWorld:
    """A project with three labels (UNCLASSIFIED, SECRET//REL TO USA, GBR and SECRET//NOFORN), a requester,
    a labeler, and foreign disclosure officers: at TOP SECRET, one who is a member, one at CONFIDENTIAL."""
    project = make_project(test_db, "UNCLASSIFIED")
    requester = make_user(test_db, unique("requester"), "SECRET")
    officer = make_user(test_db, unique("fdo"), "TOP SECRET", roles=OFFICER)
    officer_member = make_user(test_db, unique("fdo-member"), "SECRET", roles=OFFICER)
    low_officer = make_user(test_db, unique("fdo-low"), "CONFIDENTIAL", roles=OFFICER)
    labeler = make_user(test_db, unique("labeler"), "SECRET")
    for member in (requester, officer_member, labeler):
        add_member(test_db, project, member)
    image = ingest(test_db, project, utm_image, data_dir, "UNCLASSIFIED")
    with test_db.as_system() as session:
        chip, centre = session.execute(
            select(CHIPS.c.id, func.ST_AsGeoJSON(func.ST_Centroid(CHIPS.c.footprint)))
            .where(CHIPS.c.image_id == image)
            .limit(1)
        ).one()
    lon, lat = json.loads(centre)["coordinates"]
    made = ReleaseWorld(
        test_db, project, chip, (lon, lat), requester, officer, officer_member, low_officer, labeler, {}
    )
    made.ids = {
        "unclassified": made.draw(labeler, 1, "UNCLASSIFIED"),
        "releasable": made.draw(labeler, 2, RELEASABLE),
        "noforn": made.draw(labeler, 3, "SECRET//NOFORN"),
    }
    return made
