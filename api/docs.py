"""Self-hosted API docs: Swagger UI from the swagger-ui-bundle package, served by GeoLabel (no CDN).

Started by a script file rather than an inline script, so it works under ``default-src 'self'``.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>GeoLabel API</title>
<link rel="stylesheet" href="/static/swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"""

INIT_JS = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout", validatorUrl: null});
"""

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def docs() -> HTMLResponse:
    return HTMLResponse(DOCS_HTML)


@router.get("/docs/init.js")
def docs_init() -> Response:
    return Response(INIT_JS, media_type="text/javascript")


def mount_docs(app: FastAPI) -> None:
    app.mount(
        "/static/swagger", StaticFiles(directory=Path(swagger_ui_bundle.swagger_ui_path)), name="swagger"
    )
    app.include_router(router)
