"""Issue 15, part 1: an export for a partner nation is a release request that a foreign-disclosure officer
other than the requester reviews; only the requester downloads it once approved, exactly as reviewed, and only
while their access and the recipient's still cover it."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from geo_label import releases, users
from geo_label.db.models import AUDIT_LOG, MEMBERSHIPS, RELEASE_FEATURES, RELEASE_REQUESTS
from geo_label.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from tests.pg import TestDatabase
from tests.release_world import REGISTRY, RELEASABLE, ReleaseWorld, build_release_world
from tests.service.conftest import token
from tests.world import caller


@pytest.fixture()
def world(test_db: TestDatabase, utm_image: Path, data_dir: Path) -> ReleaseWorld:
    return build_release_world(test_db, utm_image, data_dir)


def audited(db: TestDatabase, action: str, request_id: uuid.UUID) -> list[Any]:
    with db.as_system() as session:
        return list(
            session.execute(
                select(AUDIT_LOG.c.details).where(
                    AUDIT_LOG.c.action == action, AUDIT_LOG.c.item_id == str(request_id)
                )
            ).scalars()
        )


def test_a_request_records_exactly_what_the_export_would_hold(world: ReleaseWorld) -> None:
    request = world.request()
    assert request["state"] == "pending" and request["recipient"] == "GBR"
    assert request["feature_count"] == 2  # NOFORN is not releasable
    banner = world.get(world.officer, request["id"])
    assert releases.marking_of(banner).banner() == RELEASABLE
    with world.db.as_caller(caller(world.db, world.officer)) as session:
        who = caller(world.db, world.officer)
        counts = releases.release_counts(session, who, request["id"]).by_marking
        features = [json.loads(r.feature) for r in releases.release_features(session, who, request["id"])]
    assert counts == {"UNCLASSIFIED": 1, RELEASABLE: 1}
    assert {f["id"] for f in features} == {world.ids["unclassified"], world.ids["releasable"]}
    [details] = audited(world.db, "release.request", request["id"])
    assert details == {"recipient": "GBR", "features": 2, "banner": RELEASABLE}


def test_only_another_officer_who_reads_everything_decides(world: ReleaseWorld) -> None:
    own = world.request(world.officer_member)
    with pytest.raises(PermissionDeniedError, match="their own release request"):
        world.decide(world.officer_member, own["id"])
    with pytest.raises(PermissionDeniedError, match="only a foreign disclosure officer"):
        world.decide(world.labeler, own["id"])
    with pytest.raises(NotFoundError):  # cannot read the banner: as if there were no request
        world.decide(world.low_officer, own["id"])
    with pytest.raises(InvalidInputError, match="justification"):
        world.decide(world.officer, own["id"], why="  ")
    decided = world.decide(world.officer, own["id"], approve=False, why="not releasable yet")
    assert decided["state"] == "denied" and decided["justification"] == "not releasable yet"
    with pytest.raises(ConflictError, match="already denied"):
        world.decide(world.officer, own["id"])
    assert audited(world.db, "release.deny", own["id"])[0]["justification"] == "not releasable yet"


def test_a_request_is_seen_by_its_requester_and_the_officers_only(world: ReleaseWorld) -> None:
    request = world.request()
    assert world.get(world.requester, request["id"])["id"] == request["id"]
    assert world.get(world.officer, request["id"])["id"] == request["id"]
    with pytest.raises(NotFoundError):
        world.get(world.labeler, request["id"])
    with world.db.as_caller(caller(world.db, world.labeler)) as session:
        assert releases.list_releases(session, caller(world.db, world.labeler)) == []


def test_the_approved_snapshot_is_what_the_requester_downloads(world: ReleaseWorld) -> None:
    request = world.request()
    with pytest.raises(PermissionDeniedError, match="not approved"):
        world.download(world.requester, request["id"])
    world.decide(world.officer, request["id"])
    world.draw(world.labeler, 4, RELEASABLE)  # added after the review: not in the release
    with pytest.raises(PermissionDeniedError, match="only its requester"):
        world.download(world.officer, request["id"])

    data, summary = world.download(world.requester, request["id"])
    document = json.loads(data)
    assert document["banner"] == RELEASABLE and document["recipient"] == "GBR"
    assert {f["id"] for f in document["features"]} == {world.ids["unclassified"], world.ids["releasable"]}
    assert summary.sha256 == hashlib.sha256(data).hexdigest()
    assert world.get(world.requester, request["id"])["download_sha256"] == summary.sha256
    assert audited(world.db, "release.download", request["id"])[0]["sha256"] == summary.sha256


def test_a_clearance_lowered_after_the_approval_stops_the_download(world: ReleaseWorld) -> None:
    request = world.request()
    world.decide(world.officer, request["id"])
    with world.db.as_system() as session:
        users.set_clearance(
            session,
            session.info["caller"],
            username=world.requester,
            clearance=users.Clearance.parse("CONFIDENTIAL", citizenship="USA", registry=REGISTRY),
        )
    with pytest.raises(NotFoundError):  # the request's banner is above them now: hidden, as if missing
        world.download(world.requester, request["id"])
    assert audited(world.db, "release.download", request["id"]) == []


def test_a_requester_taken_off_the_project_cannot_download(world: ReleaseWorld) -> None:
    request = world.request()
    world.decide(world.officer, request["id"])
    with world.db.as_system() as session:
        session.execute(
            MEMBERSHIPS.delete().where(
                MEMBERSHIPS.c.project_id == world.project,
                MEMBERSHIPS.c.user_id == caller(world.db, world.requester).user_id,
            )
        )
    with pytest.raises(NotFoundError, match="project"):
        world.download(world.requester, request["id"])


def test_a_recipient_must_be_a_partner_nation(world: ReleaseWorld) -> None:
    with pytest.raises(InvalidInputError, match="other than USA"):
        world.request(recipient="USA")
    with pytest.raises(InvalidInputError, match="unknown recipient"):
        world.request(recipient="XYZ")


def test_row_level_security_hides_requests_and_features_without_the_service(world: ReleaseWorld) -> None:
    """Issue 15 and MARKINGS.md section 8: the database itself hides a request and its features from a
    member who is neither its requester nor an officer, and from an officer who cannot read its banner."""
    request = world.request()
    for who, sees in ((world.labeler, 0), (world.low_officer, 0), (world.officer, 1), (world.requester, 1)):
        with world.db.as_caller(caller(world.db, who)) as session:
            found = session.execute(
                select(func.count())
                .select_from(RELEASE_REQUESTS)
                .where(RELEASE_REQUESTS.c.id == request["id"])
            ).scalar_one()
            features = session.execute(
                select(func.count())
                .select_from(RELEASE_FEATURES)
                .where(RELEASE_FEATURES.c.request_id == request["id"])
            ).scalar_one()
        assert (found, features) == (sees, 2 * sees), who


def test_the_release_api(client: TestClient, world: ReleaseWorld) -> None:
    requester, officer = token(client, world.requester), token(client, world.officer)
    asked = client.get(f"/api/v1/projects/{world.project}/export?recipient=GBR", headers=requester)
    assert asked.status_code == 202, asked.text
    request = asked.json()["release_request"]
    url = f"/api/v1/releases/{request}"

    shown = client.get(url, headers=officer)
    assert shown.status_code == 200 and shown.json()["by_marking"] == {"UNCLASSIFIED": 1, RELEASABLE: 1}
    features = client.get(f"{url}/features", headers=officer).json()
    assert features["banner"] == RELEASABLE and len(features["features"]) == 2
    assert client.get(url, headers=token(client, world.labeler)).status_code == 404
    self_approval = client.post(f"{url}/approve", headers=requester, json={"justification": "mine"})
    assert self_approval.status_code == 403
    empty = client.post(f"{url}/approve", headers=officer, json={"justification": ""})
    assert empty.status_code == 422
    assert client.get(f"{url}/download", headers=requester).status_code == 403

    approved = client.post(f"{url}/approve", headers=officer, json={"justification": "releasable"})
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    listed = client.get("/api/v1/releases?state=approved", headers=requester).json()
    assert [r["id"] for r in listed] == [request]
    got = client.get(f"{url}/download", headers=requester)
    assert got.status_code == 200 and got.headers["x-geolabel-banner"] == RELEASABLE
    assert got.headers["x-geolabel-sha256"] == hashlib.sha256(got.content).hexdigest()
    assert client.get(url, headers=requester).json()["download_sha256"] == got.headers["x-geolabel-sha256"]
