"""Suggestions in the labeling view (issue 13, part 2): a chip's predictions, accepted or rejected."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from access_control import parse_marking
from api import serialize
from api.deps import ContextDep
from api.errors import NO_STORE
from api.responses import JSONResponse
from api.schemas import AcceptanceIn, AnnotationOut
from geo_label.predictions import suggestions as service

router = APIRouter(tags=["suggestions"])

States = Annotated[list[str] | None, Query(description="proposed (default), accepted, edited, rejected")]
MinScore = Annotated[float, Query(ge=0, le=1, description="Only suggestions scored at least this")]


@router.get("/chips/{chip_id}/suggestions")
def chip_suggestions(
    ctx: ContextDep,
    chip_id: uuid.UUID,
    min_score: MinScore = 0.0,
    state: Annotated[
        list[str] | None, Query(description="proposed (default), accepted, edited, rejected")
    ] = None,
    model: Annotated[uuid.UUID | None, Query(description="Only this model version's (its id)")] = None,
) -> JSONResponse:
    """The readable predictions on the chip, best score first: what a person has yet to decide on, or (with
    ``state``) what was decided and what it became."""
    rows = service.chip_suggestions(
        ctx.session,
        ctx.caller,
        chip_id,
        min_score=min_score,
        states=tuple(state or ("proposed",)),
        model_id=model,
    )
    return JSONResponse([serialize.suggestion(row) for row in rows], headers=NO_STORE)


@router.post("/chips/{chip_id}/suggestions/accept")
def accept_all(
    ctx: ContextDep, chip_id: uuid.UUID, min_score: MinScore, model: uuid.UUID | None = None
) -> JSONResponse:
    """Accept, unchanged, every proposed suggestion on the chip scored at least ``min_score``."""
    rows = service.accept_all(ctx.session, ctx.caller, chip_id, min_score=min_score, model_id=model)
    body = {"accepted": len(rows), "annotations": [serialize.annotation(row) for row in rows]}
    return JSONResponse(body, headers=NO_STORE)


@router.post(
    "/predictions/{prediction_id}/accept", response_model=AnnotationOut, status_code=status.HTTP_201_CREATED
)
def accept(ctx: ContextDep, prediction_id: uuid.UUID, body: AcceptanceIn | None = None) -> JSONResponse:
    """The suggestion becomes the caller's draft annotation; with changes (class, shape, marking,
    attributes) it counts as edited."""
    changes = service.Acceptance(
        label_class=body.label_class if body else None,
        geometry=body.geometry if body else None,
        marking=parse_marking(body.marking, ctx.registry) if body and body.marking else None,
        attributes=body.attributes if body else None,
    )
    row = service.accept_suggestion(ctx.session, ctx.caller, prediction_id, changes)
    return JSONResponse(serialize.annotation(row), status_code=status.HTTP_201_CREATED, headers=NO_STORE)


@router.post("/predictions/{prediction_id}/reject", status_code=status.HTTP_204_NO_CONTENT)
def reject(ctx: ContextDep, prediction_id: uuid.UUID) -> Response:
    """Rejected, and kept as rejected (the model's figures count it)."""
    service.reject_suggestion(ctx.session, ctx.caller, prediction_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
