"""Models registered with a project (issue 13)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, status

from api import serialize
from api.deps import ContextDep
from api.schemas import ModelIn, ModelOut
from geo_label.predictions import registry

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
