"""Self-hosted API docs: Swagger UI 5 (reads the OpenAPI 3.1 FastAPI writes), vendored under
``api/web/vendor/swagger-ui`` and served by GeoLabel with the rest of the UI's assets (no CDN).

Only Swagger UI's script and stylesheet are shipped, not its stock ``index.html`` and initializer (which
point at outside hosts). The page is started by a script file rather than an inline script, so it runs
under the same ``Content-Security-Policy`` as every other page.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, Response

ASSETS = "/ui/vendor/swagger-ui"

DOCS_HTML = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>GeoLabel API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
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
    """The docs page; its assets come with the UI's (``api.web_ui`` serves ``/ui/``)."""
    app.include_router(router)
