"""Release requests (issue 15): exports for partner nations, reviewed by a foreign disclosure officer other
than the requester, downloaded by the requester once approved, exactly as reviewed."""

from __future__ import annotations

import tempfile
import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.deps import ContextDep, StateDep
from api.errors import NO_STORE
from api.responses import GeoJSONResponse
from api.routes.export import EXTENSIONS, MEDIA_TYPES, chunks
from api.schemas import ReleaseDecisionIn, ReleaseOut
from geo_label import releases
from geo_label.export.geojson import ExportFormat
from geo_label.markings import marking_of

router = APIRouter(prefix="/releases", tags=["releases"])


def release_out(row: Any, by_marking: dict[str, int] | None = None) -> ReleaseOut:
    return ReleaseOut(
        id=row["id"],
        project_id=row["project_id"],
        recipient=row["recipient"],
        format=row["format"],
        state=row["state"],
        banner=marking_of(row).banner(),
        features=row["feature_count"],
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        justification=row["justification"],
        download_sha256=row["download_sha256"],
        by_marking=by_marking,
    )


@router.get("", response_model=list[ReleaseOut])
def list_releases(
    ctx: ContextDep,
    state: Annotated[str | None, Query(description="pending, approved or denied")] = None,
) -> list[ReleaseOut]:
    """Your own requests; every request you can read as a foreign disclosure or security officer."""
    return [release_out(row) for row in releases.list_releases(ctx.session, ctx.caller, state=state)]


@router.get("/{request_id}", response_model=ReleaseOut)
def one_release(ctx: ContextDep, request_id: uuid.UUID) -> ReleaseOut:
    """One request, with its features counted by marking."""
    row = releases.get_release(ctx.session, ctx.caller, request_id)
    counts = releases.release_counts(ctx.session, ctx.caller, request_id).by_marking
    return release_out(row, counts)


@router.get("/{request_id}/features")
def release_features(ctx: ContextDep, request_id: uuid.UUID) -> GeoJSONResponse:
    """The request's features exactly as they would be released (the officer opens every one)."""
    row = releases.get_release(ctx.session, ctx.caller, request_id)
    features = [
        orjson.Fragment(r.feature) for r in releases.release_features(ctx.session, ctx.caller, request_id)
    ]
    return GeoJSONResponse(
        {"type": "FeatureCollection", "banner": marking_of(row).banner(), "features": features},
        headers=NO_STORE,
    )


@router.post("/{request_id}/approve", response_model=ReleaseOut)
def approve(ctx: ContextDep, request_id: uuid.UUID, body: ReleaseDecisionIn) -> ReleaseOut:
    """Approve a pending request (a foreign disclosure officer other than its requester)."""
    return release_out(
        releases.decide(ctx.session, ctx.caller, request_id, approve=True, justification=body.justification)
    )


@router.post("/{request_id}/deny", response_model=ReleaseOut)
def deny(ctx: ContextDep, request_id: uuid.UUID, body: ReleaseDecisionIn) -> ReleaseOut:
    """Deny a pending request (a foreign disclosure officer other than its requester)."""
    return release_out(
        releases.decide(ctx.session, ctx.caller, request_id, approve=False, justification=body.justification)
    )


@router.get("/{request_id}/download")
def download(ctx: ContextDep, state: StateDep, request_id: uuid.UUID) -> StreamingResponse:
    """An approved request's features as reviewed (its requester only); the file's SHA-256 is recorded."""
    row = releases.get_release(ctx.session, ctx.caller, request_id)
    fmt = ExportFormat(row["format"])
    out = tempfile.TemporaryFile(dir=state.settings.spool_dir)  # noqa: SIM115 (closed by chunks() once sent)
    try:
        summary = releases.download_release(
            ctx.session,
            ctx.caller,
            request_id,
            out,
            registry=ctx.registry,
            spool_dir=state.settings.spool_dir,
        )
    except BaseException:
        out.close()
        raise
    out.seek(0)
    headers = {
        **NO_STORE,
        "Content-Disposition": f'attachment; filename="release-{request_id}.{EXTENSIONS[fmt]}"',
        "X-GeoLabel-Banner": summary.banner.banner(),
        "X-GeoLabel-SHA256": summary.sha256,
    }
    return StreamingResponse(chunks(out), media_type=MEDIA_TYPES[fmt], headers=headers)
