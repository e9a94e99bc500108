"""Prediction imports through the API (issue 13): the file is the request body, streamed to the data volume;
the import runs in the background and is followed at its own address."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy import event

from access_control import MarkingError, MarkingRegistry, parse_marking
from api.deps import ContextDep, StateDep
from api.state import AppState
from geo_label.db.context import Caller
from geo_label.errors import GeoLabelError, InvalidInputError
from geo_label.markings import banner_of
from geo_label.predictions import jobs
from geo_label.predictions.importing import ImportOptions, import_predictions
from geo_label.predictions.records import PredictionFormat, parse_class_map
from imagery import ImageryError

router = APIRouter(prefix="/projects/{project_id}/predictions", tags=["predictions"])
log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


class SpooledUpload:
    """The request body, written to a private file on the data volume as it arrives."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size


async def spooled_upload(request: Request, state: StateDep) -> AsyncIterator[SpooledUpload]:
    """Streams the body to disk (the request guard caps its size); the file is removed after the response
    unless the import took it over."""
    fd, name = tempfile.mkstemp(prefix="predictions-", dir=state.settings.spool_dir)
    path = Path(name)
    size = 0
    try:
        async with await anyio.open_file(fd, "wb", closefd=True) as out:
            async for chunk in request.stream():
                size += len(chunk)
                await out.write(chunk)
        if size == 0:
            raise InvalidInputError("send the prediction file as the request body")
        yield SpooledUpload(path, size)
    finally:
        if path.exists() and not getattr(request.state, "upload_taken", False):
            path.unlink()


UploadDep = Annotated[SpooledUpload, Depends(spooled_upload)]


def job(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "project_id": row["project_id"],
        "model_id": row["model_id"],
        "file_name": row["file_name"],
        "file_bytes": row["file_bytes"],
        "state": row["state"],
        "records": row["records"],
        "report": row["report"],
        "error": row["error"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "marking": banner_of(row),
    }


def run_import(
    state: AppState,
    caller: Caller,
    job_id: uuid.UUID,
    project_id: uuid.UUID,
    model: str,
    path: Path,
    file_name: str,
    options: ImportOptions,
) -> None:
    """The background half, on a thread of its own: one transaction for the import (and its ``done``),
    short ones for progress, on the jobs' own two connections (requests keep all of theirs); imports run
    one at a time."""
    database = state.jobs_database()

    def progress(records: int) -> None:
        with database.transaction(caller) as session:
            jobs.record_progress(session, job_id, records)

    try:
        with state.import_turn, database.transaction(caller) as session:
            if not jobs.hold_import(session, job_id):
                return
            report = import_predictions(
                session,
                caller,
                project_id=project_id,
                model=model,
                path=path,
                registry=state.registry,
                options=options,
                progress=progress,
                file_name=file_name,
            )
            jobs.finish_import(session, job_id, report)
    except (GeoLabelError, ImageryError, MarkingError) as exc:
        reason = getattr(exc, "detail", None) or str(exc)
        with database.transaction(caller) as session:
            jobs.fail_import(session, job_id, reason)
    except Exception:
        log.exception("prediction import %s failed", job_id)
        with database.transaction(caller) as session:
            jobs.fail_import(session, job_id, "an internal error stopped the import; nothing was imported")
    finally:
        path.unlink(missing_ok=True)


def _options(
    registry: MarkingRegistry,
    *,
    image: uuid.UUID | None,
    marking: str | None,
    min_score: float,
    strict: bool,
    fmt: PredictionFormat | None,
    class_map: str | None,
) -> ImportOptions:
    return ImportOptions(
        marking=parse_marking(marking, registry) if marking else None,
        class_map=parse_class_map(class_map, "class_map") if class_map is not None else None,
        min_score=min_score,
        strict=strict,
        image_id=image,
        format=fmt,
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def import_file(
    ctx: ContextDep,
    state: StateDep,
    upload: UploadDep,
    request: Request,
    response: Response,
    project_id: uuid.UUID,
    model: Annotated[str, Query(description="The registered model version, NAME@VERSION")],
    image: Annotated[
        uuid.UUID | None, Query(description="Required for COCO results (pixel coordinates)")
    ] = None,
    marking: Annotated[str | None, Query(description="The file's marking, if it carries none")] = None,
    class_map: Annotated[
        str | None, Query(description="JSON object: the file's classes to the project's")
    ] = None,
    min_score: Annotated[float, Query(ge=0, le=1)] = 0.0,
    strict: bool = False,
    fmt: Annotated[PredictionFormat | None, Query(alias="format")] = None,
    file_name: Annotated[str, Query(max_length=255)] = "predictions",
) -> dict[str, Any]:
    """Import a prediction file (the request body) as suggestions: answered at once with the import, whose
    address (``Location``) says how far it got and then what it imported, skipped and refused."""
    options = _options(
        ctx.registry,
        image=image,
        marking=marking,
        min_score=min_score,
        strict=strict,
        fmt=fmt,
        class_map=class_map,
    )
    row = jobs.start_import(
        ctx.session,
        ctx.caller,
        project_id=project_id,
        model=model,
        file_name=file_name,
        file_bytes=upload.size,
        options={
            "image": str(image) if image else None,
            "marking": marking,
            "min_score": min_score,
            "strict": strict,
        },
    )
    suffix = Path(file_name).suffix.lower() if fmt is None else ""
    path = upload.path
    if suffix:  # the format is told from the name: keep its extension on the spooled file
        named = path.with_name(path.name + suffix)
        os.replace(path, named)
        path = named
    request.state.upload_taken = True
    thread = threading.Thread(
        target=run_import,
        args=(state, ctx.caller, row["id"], project_id, model, path, file_name, options),
        name=f"prediction-import-{row['id']}",
        daemon=True,  # a stop of the service ends it; its transaction rolls back, the next start says so
    )
    # The import starts once the request's transaction (with the import's row) has committed.
    event.listen(ctx.session, "after_commit", lambda _session: thread.start(), once=True)
    event.listen(ctx.session, "after_rollback", lambda _session: path.unlink(missing_ok=True), once=True)
    response.headers["Location"] = f"{request.url.path}/imports/{row['id']}"
    return job(row)


@router.get("/imports")
def list_imports(ctx: ContextDep, project_id: uuid.UUID) -> list[dict[str, Any]]:
    return [job(row) for row in jobs.list_imports(ctx.session, ctx.caller, project_id)]


@router.get("/imports/{job_id}")
def get_import(ctx: ContextDep, project_id: uuid.UUID, job_id: uuid.UUID) -> dict[str, Any]:
    return job(jobs.get_import(ctx.session, ctx.caller, project_id, job_id))
