"""Security headers on every response, as a plain ASGI middleware.

A pure ASGI middleware adds the headers to the response's start message and passes the body through as it
comes; Starlette's ``BaseHTTPMiddleware`` (``@app.middleware("http")``) would run each request in a task
group and copy every body through a memory stream, measurable on pages of a thousand features and on
streamed exports.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SecurityHeaders:
    """Adds ``headers`` to every HTTP response that does not set them itself, and ``Cache-Control: private,
    no-store`` under ``private_prefixes`` (API answers hold marked content: no cache may keep them)."""

    def __init__(self, app: ASGIApp, *, headers: dict[str, str], private_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.headers = headers
        self.private_prefixes = private_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = str(scope.get("path", "")).startswith(self.private_prefixes)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if private:
                    headers.setdefault("Cache-Control", "private, no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
