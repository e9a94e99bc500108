"""The browser labeling UI: static files from ``api/web`` (no build step), served by GeoLabel itself.

``GET /`` answers the single-page app's shell; its scripts, styles and the vendored OpenLayers and mgrs
libraries are under ``/ui/``. Everything the pages show comes from ``/api/v1``. The shell has no inline script
or style, so it runs under the app's ``Content-Security-Policy: default-src 'self'``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api.deps import RequestContext
from api.routes import markings

WEB_DIR = Path(__file__).resolve().parent / "web"

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=FileResponse)
def index() -> FileResponse:
    # The shell is tiny and names the scripts: always revalidate so an upgrade is picked up at once.
    return FileResponse(WEB_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


def mount_web_ui(app: FastAPI, *, api_prefix: str) -> None:
    """Serve the UI at ``/`` and its assets at ``/ui/``, and add the banner roll-up endpoint it uses."""
    app.include_router(markings.router, prefix=api_prefix, dependencies=[RequestContext])
    app.mount("/ui", StaticFiles(directory=WEB_DIR), name="web-ui")
    app.include_router(router)
