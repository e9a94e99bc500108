"""GeoJSON export of a project's labels (RFC 7946, or RFC 8142 text sequences)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from typing import IO, Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.deps import ContextDep, StateDep
from api.errors import NO_STORE
from geo_label.export.geojson import ExportFormat
from geo_label.export.merge import DEFAULT_IOU, MergeRule
from geo_label.exporting import export_project

router = APIRouter(tags=["export"])

MEDIA_TYPES = {
    ExportFormat.GEOJSON: "application/geo+json",
    ExportFormat.GEOJSONSEQ: "application/geo+json-seq",
    ExportFormat.GEOPARQUET: "application/vnd.apache.parquet",
}
EXTENSIONS = {
    ExportFormat.GEOJSON: "geojson",
    ExportFormat.GEOJSONSEQ: "geojsons",
    ExportFormat.GEOPARQUET: "parquet",
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
) -> StreamingResponse:
    """Everything in the project the caller may read (and, with a recipient, that is releasable to it), each
    feature with its portion marking and the file with its banner (also sent as X-GeoLabel-Banner)."""
    # Written within the request's transaction to a temporary file (memory stays flat), then streamed.
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
            statuses=tuple(status or ()),
            spool_dir=spool_dir,
            merge=MergeRule(iou=merge_iou) if merge else None,
        )
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    extension = EXTENSIONS[fmt]
    headers = {
        **NO_STORE,
        "Content-Disposition": f'attachment; filename="{project_id}.{extension}"',
        "X-GeoLabel-Banner": summary.banner.banner(),
        "X-GeoLabel-Feature-Count": str(summary.count),
    }
    return StreamingResponse(chunks(spool), media_type=MEDIA_TYPES[fmt], headers=headers)
