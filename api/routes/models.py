"""Models registered with a project (issue 13)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from api import serialize
from api.deps import ContextDep
from api.schemas import ModelIn, ModelOut
from geo_label.predictions import registry
from geo_label.predictions.evaluation import EvaluationOptions, evaluate_model

router = APIRouter(prefix="/projects/{project_id}/models", tags=["models"])


@router.get("", response_model=list[ModelOut])
def list_models(ctx: ContextDep, project_id: uuid.UUID) -> list[dict[str, Any]]:
    return [serialize.model(row) for row in registry.list_models(ctx.session, ctx.caller, project_id)]


@router.post("", response_model=ModelOut, status_code=status.HTTP_201_CREATED)
def add_model(ctx: ContextDep, project_id: uuid.UUID, body: ModelIn) -> dict[str, Any]:
    row = registry.add_model(
        ctx.session,
        ctx.caller,
        project_id,
        name=body.name,
        version=body.version,
        description=body.description,
    )
    return serialize.model(row)


@router.get("/{model}", response_model=ModelOut)
def get_model(ctx: ContextDep, project_id: uuid.UUID, model: str) -> dict[str, Any]:
    """``model`` is the model's id or NAME@VERSION."""
    return serialize.model(registry.find_model(ctx.session, ctx.caller, project_id, model))


@router.get("/{model}/evaluation")
def evaluation(
    ctx: ContextDep,
    project_id: uuid.UUID,
    model: str,
    iou: Annotated[float, Query(gt=0, le=1, description="IoU threshold of a match")] = 0.5,
    score: Annotated[float, Query(ge=0, le=1, description="Score threshold of precision, recall, F1")] = 0.5,
) -> dict[str, Any]:
    """The model version against the accepted labels of the done chips, over what the caller may read:
    precision, recall, F1, AP50 and AP50:95 (COCO), per class and overall, the confusion matrix, the
    precision-recall curve at IoU 0.5 and the human-correction figures."""
    return evaluate_model(ctx.session, ctx.caller, project_id, model, EvaluationOptions(iou=iou, score=score))
