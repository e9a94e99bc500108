"""Annotations: create, read (with ETag), list, update (If-Match), delete (If-Match), history, downgrade."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status

from access_control import parse_marking
from api import serialize
from api.deps import ContextDep, StateDep
from api.errors import NO_STORE
from api.responses import JSONResponse
from api.routes.downgrades import downgrade_out
from api.schemas import (
    AnnotationIn,
    AnnotationOut,
    AnnotationPage,
    AnnotationPatch,
    DowngradeIn,
    DowngradeOut,
)
from geo_label import annotations as service
from geo_label.annotations import COUNT_CAP
from geo_label.chips import BBox
from geo_label.downgrades import propose_downgrade
from geo_label.errors import InvalidInputError
from geo_label.paging import CursorSeal

router = APIRouter(prefix="/annotations", tags=["annotations"])

LEVELS = {"U": 0, "C": 1, "S": 2, "TS": 3}


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip().removeprefix("W/").strip('"')
    try:
        return int(text)
    except ValueError:
        raise InvalidInputError('If-Match must be the ETag you read, e.g. "3"') from None


def one(row: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(
        serialize.annotation(row), status_code=status_code, headers={"ETag": etag(row["version"]), **NO_STORE}
    )


@router.post("", response_model=AnnotationOut, status_code=status.HTTP_201_CREATED)
def create(ctx: ContextDep, body: AnnotationIn) -> JSONResponse:
    data = service.AnnotationInput(
        chip_id=body.chip_id,
        label_class=body.label_class,
        geometry=body.geometry,
        marking=parse_marking(body.marking, ctx.registry) if body.marking else None,
        attributes=body.attributes,
        source=body.source,
        confidence=body.confidence,
        status=body.status,
    )
    row = service.create_annotation(ctx.session, ctx.caller, data)
    return one(row, status.HTTP_201_CREATED)


@router.get("", response_model=AnnotationPage)
def list_annotations(
    ctx: ContextDep,
    state: StateDep,
    project: uuid.UUID | None = None,
    chip: uuid.UUID | None = None,
    image: uuid.UUID | None = None,
    label_class: Annotated[str | None, Query(alias="class")] = None,
    status_filter: Annotated[str | None, Query(alias="status")] = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (EPSG:4326)")] = None,
    max_classification: Annotated[str | None, Query(description="U, C, S or TS")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, description="rows to skip; prefer cursor, which costs nothing")] = 0,
    cursor: Annotated[
        str | None,
        Query(description="next_cursor of the page before: the next page, at any depth as fast as the first"),
    ] = None,
    count: Annotated[
        bool,
        Query(
            description=f"true: total counted exactly; else up to {COUNT_CAP:,} (past that, total is null "
            "and total_at_least says how many at least)"
        ),
    ] = False,
) -> JSONResponse:
    if max_classification is not None and max_classification.upper() not in LEVELS:
        raise InvalidInputError("max_classification must be U, C, S or TS")
    filters = service.AnnotationFilter(
        project_id=project,
        chip_id=chip,
        image_id=image,
        label_class=label_class,
        status=status_filter,
        bbox=BBox.parse(bbox) if bbox else None,
        max_classification=LEVELS[max_classification.upper()] if max_classification else None,
    )
    seal = CursorSeal.derive(state.signing_key, ctx.caller.user_id, filters.key())
    start = seal.decode(cursor) if cursor is not None else None
    cap = None if count else COUNT_CAP
    page = service.list_annotations(  # a page reached by a cursor counts only when asked
        ctx.session,
        ctx.caller,
        filters,
        limit=limit,
        offset=offset,
        start=start,
        count=count or start is None,
        count_cap=cap,
    )
    # A page holding every match was counted exactly, whatever the cap.
    whole = offset == 0 and start is None and page.next_position is None
    capped = cap is not None and page.total is not None and page.total > cap and not whole
    body: dict[str, Any] = {
        "items": serialize.annotation_page(page.rows),
        "total": None if capped else page.total,
        "limit": limit,
        "offset": offset,
        "next_cursor": seal.encode(page.next_position) if page.next_position is not None else None,
    }
    if capped:
        body["total_at_least"] = page.total
    return JSONResponse(body, headers=NO_STORE)


@router.get("/{annotation_id}", response_model=AnnotationOut)
def get(ctx: ContextDep, annotation_id: uuid.UUID) -> JSONResponse:
    return one(service.get_annotation(ctx.session, ctx.caller, annotation_id))


@router.patch("/{annotation_id}", response_model=AnnotationOut)
def patch(
    ctx: ContextDep,
    annotation_id: uuid.UUID,
    body: AnnotationPatch,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    changes = service.AnnotationChanges(
        label_class=body.label_class,
        geometry=body.geometry,
        marking=parse_marking(body.marking, ctx.registry) if body.marking else None,
        attributes=body.attributes,
        status=body.status,
        confidence=body.confidence,
    )
    row = service.update_annotation(
        ctx.session, ctx.caller, annotation_id, changes, if_match=parse_if_match(if_match)
    )
    return one(row)


@router.delete("/{annotation_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(
    ctx: ContextDep, annotation_id: uuid.UUID, if_match: Annotated[str | None, Header()] = None
) -> Response:
    service.delete_annotation(ctx.session, ctx.caller, annotation_id, if_match=parse_if_match(if_match))
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=NO_STORE)


@router.get("/{annotation_id}/history")
def history(ctx: ContextDep, annotation_id: uuid.UUID) -> JSONResponse:
    rows = service.history(ctx.session, ctx.caller, annotation_id)
    return JSONResponse({"items": [serialize.version(r) for r in rows]}, headers=NO_STORE)


@router.post("/{annotation_id}/downgrade", status_code=202, response_model=DowngradeOut)
def downgrade(
    ctx: ContextDep,
    annotation_id: uuid.UUID,
    body: DowngradeIn,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """A security officer proposes lowering a marking below its floor, with a justification (audited);
    nothing changes until another security officer approves (``/api/v1/downgrades``)."""
    row = propose_downgrade(
        ctx.session,
        ctx.caller,
        annotation_id,
        marking=parse_marking(body.marking, ctx.registry),
        justification=body.justification,
        if_match=parse_if_match(if_match),
    )
    return JSONResponse(downgrade_out(row).model_dump(mode="json"), status_code=202, headers=NO_STORE)
