"""``GET /api/v1/health``: is the service up and its database reachable? For service managers, load
balancers and ``selftest``; it needs no sign-in and says nothing about what the service holds."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import StateDep
from api.responses import JSONResponse
from api.state import AppState

router = APIRouter(tags=["health"])


def database_answers(state: AppState) -> bool:
    try:
        with state.database.sessions() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


@router.get("/health", summary="Service and database status (no sign-in)")
async def health(state: StateDep) -> JSONResponse:
    if await run_in_threadpool(database_answers, state):
        return JSONResponse({"status": "ok"})
    return JSONResponse(
        {"status": "unavailable", "detail": "the database does not answer"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )
