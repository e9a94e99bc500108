"""The HTTP protocol `geo-label serve` runs: uvicorn's h11 protocol with Nagle's algorithm off on every
connection.

With several worker processes uvicorn binds the listening socket itself, as ``socket.socket(family)``, whose
protocol number is 0, and asyncio sets TCP_NODELAY only on sockets that say IPPROTO_TCP. A small response
(headers, then a body) then waited for the client's delayed acknowledgement of the headers: 40 ms more on
every keep-alive request (a saved label, the next task: 48 ms instead of 3 for /health, measured with
benchmarks/scale.py). Setting TCP_NODELAY when a connection is made restores what one process had.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        connection = transport.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
