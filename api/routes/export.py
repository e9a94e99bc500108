"""Export of a project's labels: RFC 7946 GeoJSON or RFC 8142 text sequences, streamed as they are read;
GeoParquet, sent once written (a Parquet reader starts from the file's footer)."""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from typing import IO, Annotated

import anyio
from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from api.deps import Context, ContextDep, StateDep
from api.errors import NO_STORE
from api.responses import JSONResponse
from api.state import AppState
from geo_label.db.context import Caller, set_caller_context
from geo_label.errors import PermissionDeniedError, TooManyRequestsError
from geo_label.export.geojson import COLUMNAR_FORMATS, ExportFormat
from geo_label.export.merge import DEFAULT_IOU, MergeRule
from geo_label.exporting import ProjectStream, export_project, stream_project
from geo_label.markings import marking_of
from geo_label.releases import needs_review, request_release

router = APIRouter(tags=["export"])
log = logging.getLogger(__name__)

MEDIA_TYPES = {
    ExportFormat.GEOJSON: "application/geo+json",
    ExportFormat.GEOJSONSEQ: "application/geo+json-seq",
    ExportFormat.GEOPARQUET: "application/vnd.apache.parquet",
    ExportFormat.GPKG: "application/geopackage+sqlite3",
}
EXTENSIONS = {
    ExportFormat.GEOJSON: "geojson",
    ExportFormat.GEOJSONSEQ: "geojsons",
    ExportFormat.GEOPARQUET: "parquet",
    ExportFormat.GPKG: "gpkg",
}
CHUNK = 1 << 20


def chunks(handle: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        handle.close()


@router.get("/projects/{project_id}/export")
def export(
    ctx: ContextDep,
    state: StateDep,
    project_id: uuid.UUID,
    fmt: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.GEOJSON,
    recipient: Annotated[str | None, Query(description="Partner nation the export is for, e.g. GBR")] = None,
    status: Annotated[list[str] | None, Query(description="Only these statuses")] = None,
    merge: Annotated[
        bool, Query(description="An object labeled on overlapping chips as one feature (merged_from)")
    ] = True,
    merge_iou: Annotated[
        float, Query(gt=0, le=1, description="Polygons: the intersection over union that makes one object")
    ] = DEFAULT_IOU,
) -> Response:
    """Everything in the project the caller may read (and, with a recipient, that is releasable to it), each
    feature with its portion marking and the file with its banner (also sent as X-GeoLabel-Banner).

    GeoJSON and text sequences stream as they are read, from a snapshot of their own (REPEATABLE READ, on a
    connection of the exports' pool, not the request's): the banner comes first, ``feature_count`` and
    ``bbox`` last (a text sequence ends with a FeatureCollection record holding them).

    For a partner nation (``recipient`` other than USA) nothing is sent: the export becomes a release
    request (202, its id, banner and feature count) that a foreign disclosure officer reviews
    (``/api/v1/releases``)."""
    rule = MergeRule(iou=merge_iou) if merge else None
    statuses = tuple(status or ())
    if needs_review(recipient):
        return release_request(ctx, state, project_id, fmt, str(recipient), statuses, rule)
    attachment = f'attachment; filename="{project_id}.{EXTENSIONS[fmt]}"'
    if fmt in COLUMNAR_FORMATS:
        return spooled(ctx, state, project_id, fmt, recipient, statuses, rule, attachment)
    session = snapshot(state, ctx.caller)
    try:
        stream = stream_project(
            session,
            ctx.caller,
            project_id=project_id,
            registry=ctx.registry,
            fmt=fmt,
            recipient=recipient,
            statuses=statuses,
            spool_dir=state.settings.spool_dir,
            merge=rule,
        )
        # Before the first byte leaves, in the request's transaction (committed when this returns).
        stream.audit(ctx.session, ctx.caller, "export", streamed=True)
    except BaseException:
        session.close()
        raise
    headers = {
        **NO_STORE,
        "Content-Disposition": attachment,
        "X-GeoLabel-Banner": stream.writer.banner.banner(),
    }
    body = streamed_body(state, ctx.caller, session, stream)
    return StreamingResponse(body, media_type=MEDIA_TYPES[fmt], headers=headers)


def release_request(
    ctx: Context,
    state: AppState,
    project_id: uuid.UUID,
    fmt: ExportFormat,
    recipient: str,
    statuses: tuple[str, ...],
    rule: MergeRule | None,
) -> JSONResponse:
    """A release request for ``recipient`` instead of a file (issue 15); never with a read-only token."""
    if ctx.caller.access_token_id is not None:
        raise PermissionDeniedError("a read-only access token cannot request a release: sign in")
    row = request_release(
        ctx.session,
        ctx.caller,
        project_id=project_id,
        recipient=recipient,
        registry=ctx.registry,
        fmt=fmt,
        statuses=statuses,
        merge=rule,
        spool_dir=state.settings.spool_dir,
    )
    body = {
        "release_request": str(row["id"]),
        "banner": marking_of(row).banner(),
        "features": row["feature_count"],
        "state": row["state"],
    }
    return JSONResponse(
        body, status_code=202, headers={**NO_STORE, "Location": f"/api/v1/releases/{row['id']}"}
    )


def snapshot(state: AppState, caller: Caller) -> Session:
    """A read-only REPEATABLE READ transaction as ``caller`` on the exports' pool; 429 when every export
    connection of this process is busy."""
    session = state.exports_database().sessions()
    try:
        session.begin()
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        session.execute(text("SET TRANSACTION READ ONLY"))
        set_caller_context(session, caller)
    except PoolTimeoutError:
        session.close()
        raise TooManyRequestsError("other exports are under way; try again in a moment", 5) from None
    except BaseException:
        session.close()
        raise
    return session


async def streamed_body(
    state: AppState, caller: Caller, session: Session, stream: ProjectStream
) -> AsyncIterator[bytes]:
    """The export's bytes, each chunk read and encoded in a worker thread; whatever ends the download (its
    end, a failure, the client going away), the snapshot is closed and the end audited."""
    pieces = stream.writer.chunks()
    complete = False
    try:
        async for piece in iterate_in_threadpool(pieces):
            yield piece
        complete = True
    finally:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(finish, state, caller, session, stream, pieces, complete)


def finish(
    state: AppState,
    caller: Caller,
    session: Session,
    stream: ProjectStream,
    pieces: Generator[bytes, None, None],
    complete: bool,
) -> None:
    try:
        pieces.close()
    finally:
        session.close()
    try:
        with state.exports_database().transaction(caller) as audit_session:
            stream.audit(
                audit_session,
                caller,
                "export.end",
                count=stream.writer.count,
                merged=stream.tally.merged,
                complete=complete,
            )
    except Exception:  # the download is over either way; the start of the export is audited already
        log.exception("auditing the end of an export of project %s failed", stream.project_id)


def spooled(
    ctx: Context,
    state: AppState,
    project_id: uuid.UUID,
    fmt: ExportFormat,
    recipient: str | None,
    statuses: tuple[str, ...],
    rule: MergeRule | None,
    attachment: str,
) -> StreamingResponse:
    """Written within the request's transaction to a temporary file (memory stays flat), then sent."""
    spool_dir = state.settings.spool_dir
    spool = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 (closed by the response's iterator)
    try:
        summary = export_project(
            ctx.session,
            ctx.caller,
            project_id=project_id,
            out=spool,
            registry=ctx.registry,
            fmt=fmt,
            recipient=recipient,
            statuses=statuses,
            spool_dir=spool_dir,
            merge=rule,
        )
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    headers = {
        **NO_STORE,
        "Content-Disposition": attachment,
        "X-GeoLabel-Banner": summary.banner.banner(),
        "X-GeoLabel-Feature-Count": str(summary.count),
    }
    return StreamingResponse(chunks(spool), media_type=MEDIA_TYPES[fmt], headers=headers)
