"""The HTTP protocol `geo-label serve` runs: uvicorn's h11 protocol with Nagle's algorithm off on every
connection, and the connection's verified client certificate and peer address in each request's scope.

With several worker processes uvicorn binds the listening socket itself, as ``socket.socket(family)``, whose
protocol number is 0, and asyncio sets TCP_NODELAY only on sockets that say IPPROTO_TCP. A small response
(headers, then a body) then waited for the client's delayed acknowledgement of the headers: 40 ms more on
every keep-alive request (a saved label, the next task: 48 ms instead of 3 for /health, measured with
benchmarks/scale.py). Setting TCP_NODELAY when a connection is made restores what one process had.

uvicorn puts neither the TLS client certificate nor, behind a trusted proxy, the proxy's own address in the
scope (it replaces ``client`` with the forwarded one). Both are read once per connection and added under
``scope["extensions"]``: ``tls`` (ASGI's TLS extension, ``client_cert_name``: the verified subject) and
``geolabel.peer`` (the address the connection came from), for certificate sign-in (api.routes.auth).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from geo_label.certificates import subject_of_der

PEER_EXTENSION = "geolabel.peer"


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        connection = transport.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection_extensions = connection_extensions(transport)
        super().connection_made(transport)

    def handle_events(self) -> None:
        super().handle_events()
        # The request's scope was made above; its application task has not run yet.
        scope: dict[str, Any] | None = getattr(self, "scope", None)
        if scope is not None and self.connection_extensions:
            scope.setdefault("extensions", {}).update(self.connection_extensions)


def connection_extensions(transport: asyncio.BaseTransport) -> dict[str, Any]:
    """The connection's peer address and, over TLS, its verified client certificate's subject."""
    extensions: dict[str, Any] = {}
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        extensions[PEER_EXTENSION] = str(peer[0])
    tls: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
    if tls is not None:
        der = tls.getpeercert(binary_form=True)
        extensions["tls"] = {"client_cert_name": subject_of_der(der) if der else None}
    return extensions


def context_with_crl(crl_file: str, config: Any, default: Any) -> ssl.SSLContext:
    """uvicorn's TLS context (certificate, key, client CA) that also refuses revoked client certificates:
    the CRL file is loaded and checked for the client's own certificate (uvicorn's ``ssl_context_factory``;
    a module-level function, so the spawned workers can unpickle it)."""
    context: ssl.SSLContext = default()
    context.load_verify_locations(cafile=crl_file)
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return context
