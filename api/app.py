"""The FastAPI application factory. The lifespan owns the database engines; tests inject their own state."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from sqlalchemy import text
from starlette.middleware.trustedhost import TrustedHostMiddleware

from access_control import default_registry, load_registry
from api.deps import RequestContext
from api.docs import mount_docs
from api.errors import SECURITY_HEADERS, install_error_handlers
from api.headers import SecurityHeaders
from api.request_guard import MIB, RequestGuard, default_limits
from api.responses import JSONResponse
from api.routes import annotations as annotation_routes
from api.routes import audit_routes, auth, datasets, export, health, imagery_routes, me, ogc, projects, users
from api.routes import downgrades as downgrade_routes
from api.routes import models as model_routes
from api.routes import predictions as prediction_routes
from api.routes import releases as release_routes
from api.routes import suggestions as suggestion_routes
from api.routes import tasks as task_routes
from api.routes import tokens as token_routes
from api.state import AppState
from api.web_ui import mount_web_ui
from geo_label.audit_forward import Forwarder, Target, forward_once, target_of
from geo_label.db.engine import Database
from geo_label.db.runtime import open_database, system_session
from geo_label.predictions.jobs import abandon_running
from geo_label.security.oidc import oidc_verifier_from_settings
from geo_label.security.tokens import load_or_create_signing_key
from geo_label.settings import Settings, load_settings

API_PREFIX = "/api/v1"
#: A serving process's database connections for requests, unless configured: with 100 labelers asking for
#: their next task at once on 2 cores, 4 a process served 85-98 tasks/s, 8 a process 70, 20 a process 60
#: (benchmarks/scale.py): more requests in flight only wait on each other (the GIL, row and chain locks).
CONNECTIONS_PER_PROCESS = 4
#: The largest annotation body: a geometry of MAX_VERTICES (10,000) vertices at full precision is ~450 KB.
ANNOTATION_BODY_BYTES = 1 * MIB
#: FastAPI's built-in OpenTelemetry stays off whatever the environment says (FASTAPI_OTEL_AUTO_CONFIGURE
#: would otherwise add OTLP exporters): nothing leaves the host.
NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


def build_state(settings: Settings, database: Database) -> AppState:
    registry = load_registry(settings.marking_registry) if settings.marking_registry else default_registry()
    return AppState(
        settings=settings,
        database=database,
        registry=registry,
        signing_key=load_or_create_signing_key(settings),
        oidc=oidc_verifier_from_settings(settings),
    )


def served_app() -> FastAPI:
    """The app as each process of `geo-label serve` runs it (uvicorn's factory): settings from the environment
    (the command passes its own through it), the database opened here and closed when the app stops. Every
    process gets its share of the service's database connections and password checks."""
    settings = load_settings()
    processes = settings.workers or os.cpu_count() or 1
    total = settings.database_connections or CONNECTIONS_PER_PROCESS * processes
    connections = max(2, total // processes)
    checks = max(1, -(-settings.password_checks // processes))
    settings = settings.model_copy(update={"password_checks": checks})
    with ExitStack() as stack:
        database = stack.enter_context(open_database(settings, pool_size=connections // 2))
        state = build_state(settings, database)
        state.closers.append(stack.pop_all().close)
    if settings.audit_forward:
        forwarder = audit_forwarder(state, target_of(settings.audit_forward), settings.audit_forward_seconds)
        forwarder.start()
        state.closers.insert(0, forwarder.stop)
    return create_app(state)


def audit_forwarder(state: AppState, target: Target, seconds: float) -> Forwarder:
    """Each serving process forwards the new audit records every ``seconds`` (one at a time: a lock)."""

    def run_once() -> None:
        with system_session(state.database, state.registry) as session:
            forward_once(session, target)

    return Forwarder(run_once, seconds)


def abandon_interrupted_imports(state: AppState) -> None:
    """Prediction imports a stop cut short (their transactions never committed) are marked failed; nothing
    to do before the schema exists (the service may start before `geo-label db upgrade`)."""
    with state.database.sessions() as session:
        if session.execute(text("SELECT to_regclass('prediction_imports')")).scalar() is None:
            return
    with system_session(state.database, state.registry) as session:
        abandon_running(session)


def create_app(state: AppState) -> FastAPI:
    """The app for ``state`` (settings, database, keys). The caller owns the database's lifetime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.geo_label = state
        abandon_interrupted_imports(state)
        yield
        state.close()

    app = FastAPI(
        title="GeoLabel",
        version="0.1.0",
        summary="Labeling for classified satellite imagery, with clearance-based access control.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        default_response_class=JSONResponse,
        telemetry=NO_TELEMETRY,
    )
    app.state.geo_label = state
    install_error_handlers(app)

    # Requests for any host but ours are refused: no forged Host header reaches a link or a redirect.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=state.settings.accepted_hosts)
    # Added first, so it runs inside the security headers middleware (its refusals get the headers too).
    app.add_middleware(
        RequestGuard,
        limits=default_limits(
            API_PREFIX,
            annotation_bytes=ANNOTATION_BODY_BYTES,
            upload_bytes=state.settings.prediction_upload_mb * MIB,
        ),
    )
    app.add_middleware(SecurityHeaders, headers=SECURITY_HEADERS, private_prefixes=(API_PREFIX, "/ogc"))

    app.include_router(auth.router, prefix=API_PREFIX)
    app.include_router(health.router, prefix=API_PREFIX)
    protected = [
        me.router,
        token_routes.router,
        users.router,
        projects.router,
        imagery_routes.router,
        annotation_routes.router,
        audit_routes.router,
        export.router,
        release_routes.router,
        downgrade_routes.router,
        datasets.router,
        task_routes.router,
        model_routes.router,
        prediction_routes.router,
        suggestion_routes.router,
    ]
    for router in protected:
        # Auth is attached to whole routers: a new route cannot forget it.
        app.include_router(router, prefix=API_PREFIX, dependencies=[RequestContext])
    app.include_router(ogc.router, dependencies=[RequestContext])
    mount_docs(app)
    mount_web_ui(app, api_prefix=API_PREFIX)
    return app
