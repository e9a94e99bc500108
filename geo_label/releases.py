"""Release review (issue 15, part 1): an export for a partner nation is a request, not a file.

The request records who asked, for which recipient, with which filters, and exactly what the export would
hold at that moment: every feature as it would be written (its GeoJSON text, annotation id, version and
marking) and the banner they roll up to. A foreign-disclosure officer other than the requester, who can read
every feature, approves or denies it with a justification. Only the requester downloads an approved request,
and gets exactly the reviewed features (a snapshot: later edits do not reach it), after a check against the
requester's and the recipient's access as they are at download time: a clearance revoked since the approval
stops the download. Every step is audited; the downloaded file's SHA-256 is recorded.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np
import orjson
import shapely
from sqlalchemy import func, insert, select, true, update
from sqlalchemy.orm import Session

from access_control import Marking, MarkingRegistry, parse_marking, releasable_to
from geo_label import audit
from geo_label.db.access import marking_readable
from geo_label.db.context import Caller
from geo_label.db.models import RELEASE_FEATURES, RELEASE_REQUESTS
from geo_label.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from geo_label.export.geojson import EncodedFeatures, ExportFormat, ExportHeader, ExportSummary, write_export
from geo_label.export.geometry import part_bounds
from geo_label.export.merge import MergeRule
from geo_label.exporting import export_header, write_project
from geo_label.markings import marking_columns, marking_of, marking_of_values
from geo_label.projects import get_project

PENDING, APPROVED, DENIED = "pending", "approved", "denied"
OFFICER = "foreign_disclosure_officer"
#: The formats a release is written in: the reviewed features are kept as GeoJSON text.
RELEASE_FORMATS = (ExportFormat.GEOJSON, ExportFormat.GEOJSONSEQ)
#: Rows a batch inserts or writes (memory stays flat in the request's size).
BATCH = 1000
RECORD_SEPARATOR = b"\x1e"


@dataclass(frozen=True)
class ReleaseCounts:
    """A request's features by marking (banner form), for the officer's review."""

    by_marking: dict[str, int]


def needs_review(recipient: str | None) -> bool:
    """Whether an export for ``recipient`` is a foreign release (the United States itself is none)."""
    return recipient is not None and recipient.strip().upper() != "USA"


def request_release(
    session: Session,
    caller: Caller,
    *,
    project_id: uuid.UUID,
    recipient: str,
    registry: MarkingRegistry,
    fmt: ExportFormat = ExportFormat.GEOJSON,
    statuses: tuple[str, ...] = (),
    merge: MergeRule | None = None,
    spool_dir: Path | None = None,
) -> Any:
    """Record a release request with the features the export would hold now (what the caller may read and
    the recipient may receive), and return it; audited as ``release.request``."""
    if fmt not in RELEASE_FORMATS:
        raise InvalidInputError("a release for a recipient is written as geojson or geojsonseq")
    header = export_header(session, caller, project_id, registry, recipient, statuses)
    if header.recipient is None or not needs_review(header.recipient):
        raise InvalidInputError("a release request names a partner nation other than USA")
    request_id = uuid.uuid4()
    with tempfile.TemporaryFile(dir=spool_dir) as spool:
        summary, _ = write_project(
            session,
            caller,
            header,
            project_id,
            spool,
            registry,
            ExportFormat.GEOJSONSEQ,
            statuses,
            spool_dir,
            merge,
        )
        session.execute(
            insert(RELEASE_REQUESTS).values(
                id=request_id,
                project_id=project_id,
                requested_by=caller.user_id,
                recipient=header.recipient,
                format=fmt.value,
                statuses=list(statuses),
                merge_iou=merge.iou if merge else None,
                feature_count=summary.count,
                state=PENDING,
                **marking_columns(summary.banner),
            )
        )
        spool.seek(0)
        for batch in _batches(_snapshot_rows(request_id, spool, registry)):
            session.execute(insert(RELEASE_FEATURES), batch)
    audit.record(
        session,
        caller,
        "release.request",
        item_type="release_request",
        item_id=request_id,
        project_id=project_id,
        marking=summary.banner,
        details={"recipient": header.recipient, "features": summary.count, "banner": summary.banner.banner()},
    )
    return get_release(session, caller, request_id)


def _snapshot_rows(
    request_id: uuid.UUID, spool: IO[bytes], registry: MarkingRegistry
) -> Iterator[dict[str, Any]]:
    """The features of a GeoJSON text sequence (its first record, the header, skipped) as release rows."""
    seq = -1
    for record in _records(spool):
        seq += 1
        if seq == 0:
            continue
        feature = orjson.loads(record)
        properties = feature["properties"]
        yield {
            "request_id": request_id,
            "seq": seq,
            "annotation_id": uuid.UUID(str(feature["id"])),
            "version": int(properties.get("version") or 0),
            "feature": record.decode(),
            **marking_columns(parse_marking(properties["marking_banner"], registry)),
        }


def _records(spool: IO[bytes]) -> Iterator[bytes]:
    """The records of an RFC 8142 text sequence, each without its separator and line end."""
    pending = b""
    while chunk := spool.read(1 << 20):
        pending += chunk
        *complete, pending = pending.split(RECORD_SEPARATOR)
        for record in complete:
            if record.strip():
                yield record.strip()
    if pending.strip():
        yield pending.strip()


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _concerned(caller: Caller) -> Any:
    """Who may see a request at all (as row-level security says too): its requester and the officers."""
    if caller.is_foreign_disclosure_officer or caller.is_security_officer:
        return true()
    return RELEASE_REQUESTS.c.requested_by == caller.user_id


def list_releases(session: Session, caller: Caller, *, state: str | None = None) -> list[Any]:
    """The requests the caller may see (their own; every readable one for an officer), newest first."""
    r = RELEASE_REQUESTS.c
    query = select(RELEASE_REQUESTS).where(marking_readable(RELEASE_REQUESTS, caller), _concerned(caller))
    if state is not None:
        if state not in (PENDING, APPROVED, DENIED):
            raise InvalidInputError("state must be pending, approved or denied")
        query = query.where(r.state == state)
    return list(session.execute(query.order_by(r.requested_at.desc(), r.id)).mappings())


def get_release(session: Session, caller: Caller, request_id: uuid.UUID, *, lock: bool = False) -> Any:
    """One request the caller may see; NotFoundError when hidden or missing (the same answer)."""
    query = select(RELEASE_REQUESTS).where(
        RELEASE_REQUESTS.c.id == request_id, marking_readable(RELEASE_REQUESTS, caller), _concerned(caller)
    )
    row = session.execute(query.with_for_update() if lock else query).mappings().one_or_none()
    if row is None:
        raise NotFoundError("release request")
    return row


def release_counts(session: Session, caller: Caller, request_id: uuid.UUID) -> ReleaseCounts:
    """The features of a request :func:`get_release` gave the caller, by marking, counting only those the
    caller may read (row-level security also hides the features of a request the caller may not see)."""
    f = RELEASE_FEATURES.c
    names = ("classification", "sci_controls", "dissemination", "rel_to")
    rows = session.execute(
        select(*(f[n] for n in names), func.count())
        .where(f.request_id == request_id, marking_readable(RELEASE_FEATURES, caller))
        .group_by(*(f[n] for n in names))
    ).all()
    counts: dict[str, int] = {}
    for row in rows:
        banner = marking_of_values(*row[:4]).banner()
        counts[banner] = counts.get(banner, 0) + int(row[4])
    return ReleaseCounts(dict(sorted(counts.items())))


def release_features(session: Session, caller: Caller, request_id: uuid.UUID) -> Iterator[Any]:
    """The features of a request :func:`get_release` gave the caller, as reviewed (the officer opens every
    one), those the caller may read."""
    f = RELEASE_FEATURES.c
    query = (
        select(f.seq, f.annotation_id, f.version, f.feature)
        .where(f.request_id == request_id, marking_readable(RELEASE_FEATURES, caller))
        .order_by(f.seq)
    )
    yield from session.execute(query.execution_options(yield_per=BATCH))


def _readable_features(session: Session, caller: Caller, request_id: uuid.UUID) -> int:
    f = RELEASE_FEATURES.c
    return int(
        session.execute(
            select(func.count()).where(f.request_id == request_id, marking_readable(RELEASE_FEATURES, caller))
        ).scalar_one()
    )


def decide(
    session: Session, caller: Caller, request_id: uuid.UUID, *, approve: bool, justification: str
) -> Any:
    """Approve or deny a pending request: a foreign-disclosure officer other than its requester, who can
    read every feature of it, with a justification; audited as ``release.approve`` or ``release.deny``."""
    if not caller.is_foreign_disclosure_officer:
        raise PermissionDeniedError("only a foreign disclosure officer approves or denies a release request")
    row = get_release(session, caller, request_id, lock=True)
    if row["requested_by"] == caller.user_id:
        raise PermissionDeniedError(
            "no one reviews their own release request: another foreign disclosure officer must"
        )
    if row["state"] != PENDING:
        raise ConflictError(f"the release request is already {row['state']}")
    reason = justification.strip()
    if not reason:
        raise InvalidInputError("give a justification for the decision")
    if _readable_features(session, caller, request_id) != row["feature_count"]:
        raise PermissionDeniedError(
            "you cannot read every feature of this request: another officer must review it"
        )
    state = APPROVED if approve else DENIED
    session.execute(
        update(RELEASE_REQUESTS)
        .where(RELEASE_REQUESTS.c.id == request_id)
        .values(state=state, decided_by=caller.user_id, decided_at=func.now(), justification=reason)
    )
    audit.record(
        session,
        caller,
        f"release.{'approve' if approve else 'deny'}",
        item_type="release_request",
        item_id=request_id,
        project_id=row["project_id"],
        marking=marking_of(row),
        details={"recipient": row["recipient"], "features": row["feature_count"], "justification": reason},
    )
    return get_release(session, caller, request_id)


def download_release(
    session: Session,
    caller: Caller,
    request_id: uuid.UUID,
    out: BinaryIO,
    *,
    registry: MarkingRegistry,
    spool_dir: Path | None = None,
) -> ExportSummary:
    """Write an approved request's reviewed features to ``out`` (its requester only), checked against the
    requester's and the recipient's access as they are now; the file's SHA-256 is recorded and audited."""
    row = get_release(session, caller, request_id, lock=True)
    if row["requested_by"] != caller.user_id:
        raise PermissionDeniedError("only its requester downloads a release")
    if row["state"] != APPROVED:
        raise PermissionDeniedError(
            f"the release request is {row['state']}, not approved: nothing to download"
        )
    project = get_project(session, caller, row["project_id"])  # need-to-know, as it is now
    recipient = str(row["recipient"])
    readable = _readable_features(session, caller, request_id)
    if readable != row["feature_count"] or not _all_releasable(session, request_id, recipient):
        raise PermissionDeniedError(
            "your access or the recipient's no longer covers every approved feature: ask for a new release"
        )
    header = ExportHeader(
        project=project["name"],
        exported_at=datetime.now(UTC),
        exported_by=caller.username,
        recipient=recipient,
    )
    summary = write_export(
        _encoded(session, caller, request_id, registry),
        header,
        out,
        ExportFormat(row["format"]),
        spool_dir=spool_dir,
        registry=registry,
    )
    session.execute(
        update(RELEASE_REQUESTS)
        .where(RELEASE_REQUESTS.c.id == request_id)
        .values(downloaded_at=func.now(), download_sha256=summary.sha256)
    )
    audit.record(
        session,
        caller,
        "release.download",
        item_type="release_request",
        item_id=request_id,
        project_id=row["project_id"],
        marking=summary.banner,
        details={"recipient": recipient, "features": summary.count, "sha256": summary.sha256},
    )
    return summary


def _all_releasable(session: Session, request_id: uuid.UUID, recipient: str) -> bool:
    """Every distinct marking of the request releasable to ``recipient`` (MARKINGS.md section 8)."""
    f = RELEASE_FEATURES.c
    names = ("classification", "sci_controls", "dissemination", "rel_to")
    rows = session.execute(select(*(f[n] for n in names)).where(f.request_id == request_id).distinct()).all()
    return all(releasable_to(marking_of_values(*r), recipient) for r in rows)


def _encoded(
    session: Session, caller: Caller, request_id: uuid.UUID, registry: MarkingRegistry
) -> Iterator[EncodedFeatures]:
    """The reviewed features as the export writer takes pre-encoded ones, a batch at a time."""
    texts: list[bytes] = []
    markings: set[Marking] = set()
    geometries: list[Any] = []
    for row in release_features(session, caller, request_id):
        feature = orjson.loads(row.feature)
        texts.append(row.feature.encode())
        markings.add(parse_marking(feature["properties"]["marking_banner"], registry))
        if feature.get("geometry") is not None:
            geometries.append(shapely.from_geojson(orjson.dumps(feature["geometry"])))
        if len(texts) == BATCH:
            yield EncodedFeatures(texts, frozenset(markings), part_bounds(geometries))
            texts, markings, geometries = [], set(), []
    if texts:
        yield EncodedFeatures(
            texts, frozenset(markings), part_bounds(geometries) if geometries else np.empty((0, 4))
        )
