"""Images and chips, with chip previews."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api import serialize
from api.deps import ContextDep
from api.errors import NO_STORE
from geo_label import chips as chip_service
from geo_label import images as image_service
from geo_label.annotations import audit_read
from geo_label.errors import NotFoundError
from geo_label.private_files import read_regular_file

#: A chip preview is an 8-bit JPEG of at most a few megabytes (a 8192 px chip); anything larger is not one.
MAX_PREVIEW_BYTES = 64 * 1024 * 1024

router = APIRouter(tags=["imagery"])

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


@router.get("/images")
def list_images(
    ctx: ContextDep, project: uuid.UUID | None = None, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    rows, total = image_service.list_images(
        ctx.session, ctx.caller, project_id=project, limit=limit, offset=offset
    )
    audit_read(ctx.session, ctx.caller, "image", rows)
    return {"items": [serialize.image(r) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.get("/images/{image_id}")
def get_image(ctx: ContextDep, image_id: uuid.UUID) -> dict[str, Any]:
    row = image_service.get_image(ctx.session, ctx.caller, image_id)
    audit_read(ctx.session, ctx.caller, "image", [row])
    return serialize.image(row)


@router.get("/chips")
def list_chips(
    ctx: ContextDep,
    project: uuid.UUID | None = None,
    image: uuid.UUID | None = None,
    status: str | None = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (EPSG:4326)")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    box = chip_service.BBox.parse(bbox) if bbox else None
    rows, total = chip_service.list_chips(
        ctx.session,
        ctx.caller,
        limit=limit,
        offset=offset,
        project_id=project,
        image_id=image,
        status=status,
        bbox=box,
    )
    audit_read(ctx.session, ctx.caller, "chip", rows)
    return {"items": [serialize.chip(r) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.get("/chips/{chip_id}")
def get_chip(ctx: ContextDep, chip_id: uuid.UUID) -> dict[str, Any]:
    row = chip_service.get_chip(ctx.session, ctx.caller, chip_id)
    audit_read(ctx.session, ctx.caller, "chip", [row])
    return serialize.chip(row)


@router.get("/chips/{chip_id}/preview", response_class=Response)
def chip_preview(ctx: ContextDep, chip_id: uuid.UUID) -> Response:
    """The chip's 8-bit JPEG preview (the image's contrast stretch)."""
    row = chip_service.get_chip(ctx.session, ctx.caller, chip_id)
    # Only a regular file, never through a symbolic link planted in its place.
    content = read_regular_file(Path(row["preview_path"]), limit=MAX_PREVIEW_BYTES)
    if content is None:
        raise NotFoundError("chip")
    audit_read(ctx.session, ctx.caller, "chip_preview", [row])
    return Response(content, media_type="image/jpeg", headers=NO_STORE)
