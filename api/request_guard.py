"""What a request may carry, checked before any route sees it: a body no larger than its route allows (413),
and no NUL character in the path or query (PostgreSQL cannot store one: 422, never a database error).

A plain ASGI middleware, like :mod:`api.headers`. A request body is read here, counted as it arrives and
refused as soon as it passes its limit (a client announcing more with Content-Length is refused before a
byte is read), then handed to the route as it came. Bodies are small JSON documents, which FastAPI reads
whole anyway, so holding one here costs no more memory than the route itself would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote_to_bytes

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import UNSTORABLE

KIB: Final = 1024
MIB: Final = 1024 * KIB
#: Methods whose requests carry no body worth reading.
BODILESS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class BodyLimits:
    """The largest body each route takes, by path prefix (the first that matches), else ``default``.

    Sign-in takes a name and a password; annotations carry a geometry of up to
    :data:`geo_label.geometry.MAX_VERTICES` vertices (10,000 at full precision are about 450 KB of JSON); the
    rest are settings, names and markings."""

    by_prefix: tuple[tuple[str, int], ...]
    default: int
    #: Limits by whole-path pattern, looked at first (routes with an id in the middle of their path).
    by_pattern: tuple[tuple[re.Pattern[str], int], ...] = ()

    def for_path(self, path: str) -> int:
        for pattern, limit in self.by_pattern:
            if pattern.fullmatch(path):
                return limit
        for prefix, limit in self.by_prefix:
            if path.startswith(prefix):
                return limit
        return self.default


def default_limits(api_prefix: str, *, annotation_bytes: int, upload_bytes: int = 0) -> BodyLimits:
    """``upload_bytes``: prediction files (POST /projects/{id}/predictions, streamed to disk as they come)."""
    uploads = re.compile(re.escape(api_prefix) + r"/projects/[^/]+/predictions")
    return BodyLimits(
        by_prefix=((f"{api_prefix}/auth/", 4 * KIB), (f"{api_prefix}/annotations", annotation_bytes)),
        default=256 * KIB,
        by_pattern=((uploads, upload_bytes),) if upload_bytes else (),
    )


class RequestGuard:
    def __init__(self, app: ASGIApp, *, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_query = scope.get("query_string", b"")
        if "\x00" in scope.get("path", "") or b"\x00" in unquote_to_bytes(raw_query):
            await refuse(send, 422, "invalid", UNSTORABLE)
            return
        if scope["method"] in BODILESS:
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope.get("path", ""))
        too_large = f"the request body is larger than this route takes ({limit // KIB} KiB)"
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await refuse(send, 413, "too_large", too_large)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > limit:
                await refuse(send, 413, "too_large", too_large)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, replay(bytes(body), receive), send)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the route the body already read, then waits on the client as before."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def refuse(send: Send, status: int, code: str, detail: str) -> None:
    """The error body every GeoLabel answer uses (``{"code", "detail"}``); the security headers middleware
    outside this one adds the rest."""
    payload = orjson.dumps({"code": code, "detail": detail})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"private, no-store"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
