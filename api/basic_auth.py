"""HTTP Basic with a read-only access token: how QGIS and GDAL, as distributions ship them, sign in.

The token (``geo_label.access_tokens``) is the Basic password, the account's user name the Basic user. It
is accepted on the read-only requests a desktop GIS or a script makes, and nowhere else; and, since Basic
sends it with every request, only over HTTPS (GeoLabel's own TLS, or a trusted reverse proxy that says the
client came over HTTPS) or from this host itself.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass

from starlette.requests import Request

from geo_label.errors import AuthenticationError, PermissionDeniedError

REALM = 'Basic realm="GeoLabel"'

#: What a token may read (GET and HEAD only): the OGC API, annotations, chips and their previews, and the
#: exports (labels and datasets). Never sign-in, token or account management, nor any write.
READ_ONLY_PATHS = re.compile(
    r"/ogc(/.*)?"
    r"|/api/v1/annotations(/[^/]+(/history)?)?"
    r"|/api/v1/chips(/[^/]+(/preview)?)?"
    r"|/api/v1/projects/[^/]+/(export|dataset)"
)
READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class BasicCredentials:
    username: str
    password: str


def basic_credentials(request: Request) -> BasicCredentials | None:
    """The request's Basic user and password; None when it sends no Basic authorization."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationError("malformed Basic authorization") from None
    username, colon, password = decoded.partition(":")
    if not colon or not username or not password:
        raise AuthenticationError("Basic authorization needs a user name and an access token")
    return BasicCredentials(username, password)


def may_read_with_token(request: Request) -> bool:
    return request.method in READ_METHODS and READ_ONLY_PATHS.fullmatch(request.url.path) is not None


def source_of(request: Request) -> str:
    """The client's address (as the trusted proxies name it)."""
    return request.client.host if request.client else "unknown"


def _from_this_host(request: Request) -> bool:
    try:
        return ipaddress.ip_address(source_of(request)).is_loopback
    except ValueError:
        return False


def require_safe_transport(request: Request) -> None:
    """Basic carries the token in every request: refused over plain HTTP from another host."""
    if request.url.scheme != "https" and not _from_this_host(request):
        raise AuthenticationError(
            "Basic authorization needs HTTPS: serve GeoLabel behind a TLS reverse proxy listed in "
            "GEO_LABEL_TRUSTED_PROXIES (it must send X-Forwarded-Proto: https)"
        )


def require_read_only(request: Request) -> None:
    if not may_read_with_token(request):
        raise PermissionDeniedError(
            "an access token only reads (the OGC API, annotations, chips, previews and exports): sign in "
            "for anything else"
        )


def challenge_for(request: Request) -> str:
    """The ``WWW-Authenticate`` of a 401: Basic for the OGC API (what QGIS and GDAL speak) and for a
    request that tried Basic; Bearer for the rest (a browser must not open its own sign-in dialog over
    the web UI)."""
    tried_basic = request.headers.get("authorization", "").lower().startswith("basic")
    if tried_basic or request.url.path == "/ogc" or request.url.path.startswith("/ogc/"):
        return REALM
    return "Bearer"
