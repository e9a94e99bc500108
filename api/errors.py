"""Domain errors to HTTP, in one place. Bodies are ``{"code": ..., "detail": ...}``; no traceback, SQL or
database text ever reaches a client."""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from access_control import MarkingError
from api.basic_auth import challenge_for
from api.responses import JSONResponse
from geo_label.errors import (
    AuthenticationError,
    ConflictError,
    GeoLabelError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    PreconditionRequiredError,
    TooManyRequestsError,
)
from imagery import ImageryError

log = logging.getLogger("geo_label.api")

STATUS: dict[type[GeoLabelError], int] = {
    NotFoundError: 404,
    InvalidInputError: 422,
    ConflictError: 409,
    PreconditionRequiredError: 428,
    PreconditionFailedError: 412,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    TooManyRequestsError: 429,
}

NO_STORE = {"Cache-Control": "private, no-store"}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


#: The longest detail an answer carries: messages quote input (a class name, a value), and a client's 10 MB
#: value must not come back to it (or into a log) whole.
MAX_DETAIL = 500


def problem(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    all_headers = {**NO_STORE, **(headers or {})}
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 3] + "..."
    return JSONResponse({"code": code, "detail": detail}, status_code=status, headers=all_headers)


UNSTORABLE = "the request holds a value that cannot be stored (a NUL character or a number too large)"


def database_problem(error: BaseException | None) -> JSONResponse:
    """A database error as the client sees it: never its text. Input the database cannot store (a NUL
    character, a number out of range) is the client's to fix (422); anything else is worth a retry (503)."""
    if isinstance(error, psycopg.errors.DataError):
        return problem(422, "invalid", UNSTORABLE)
    log.error("database error: %s", type(error).__name__)
    return problem(503, "unavailable", "the request could not be completed; try again")


def status_of(exc: GeoLabelError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GeoLabelError)
    async def domain_error(request: Request, exc: GeoLabelError) -> JSONResponse:
        headers = (
            {"WWW-Authenticate": challenge_for(request)} if isinstance(exc, AuthenticationError) else None
        )
        if isinstance(exc, TooManyRequestsError):
            headers = {"Retry-After": str(exc.retry_after)}
        return problem(status_of(exc), exc.code, exc.detail, headers)

    @app.exception_handler(MarkingError)
    async def marking_error(_: Request, exc: MarkingError) -> JSONResponse:
        return problem(422, "invalid_marking", str(exc))

    @app.exception_handler(ImageryError)
    async def imagery_error(_: Request, exc: ImageryError) -> JSONResponse:
        return problem(422, "invalid_image", str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = first.get("msg", "invalid request")
        return problem(422, "invalid", f"{where}: {message}" if where else str(message))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(
            exc.status_code, "error"
        )
        return problem(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(IntegrityError)
    async def integrity_error(_: Request, exc: IntegrityError) -> JSONResponse:
        # A unique or foreign-key error could reveal a hidden row: the same answer whatever the cause.
        log.warning("integrity error: %s", type(exc.orig).__name__)
        return problem(409, "conflict", "the request conflicts with stored data")

    @app.exception_handler(DBAPIError)
    async def database_error(_: Request, exc: DBAPIError) -> JSONResponse:
        return database_problem(exc.orig)

    # The same errors raised by psycopg itself, outside SQLAlchemy (the export's COPY lane): one mapping.
    @app.exception_handler(psycopg.Error)
    async def driver_error(_: Request, exc: psycopg.Error) -> JSONResponse:
        return database_problem(exc)

    @app.exception_handler(UnicodeEncodeError)
    async def unencodable(_: Request, exc: UnicodeEncodeError) -> JSONResponse:
        # A lone surrogate (JSON "\ud800") has no UTF-8 form: it can be neither stored nor compared.
        return problem(422, "invalid", UNSTORABLE)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        # This answer comes from the outermost middleware, past the one that adds security headers.
        return problem(500, "internal", "internal error", SECURITY_HEADERS)
