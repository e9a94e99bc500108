"""Keyset paging: a page starts after the last row of the one before, found through the index, not by
skipping rows.

Pages of annotations are ordered by ``(created_at, id)``. An offset makes PostgreSQL read and throw away
every row before the page, so reading a collection page by page was quadratic (hours at a million
annotations); a cursor names the last row shown and the next page walks the ``(project_id, created_at, id)``
index from there, in the same few milliseconds at any depth.

A cursor is opaque to clients and tamper-evident: the position, then an HMAC over it, the caller's user id
and the query it was issued for. A cursor altered, issued to someone else or replayed against another query
is refused (:class:`CursorError`); it reveals only the position of a row its holder was shown.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Table, tuple_

from geo_label.errors import InvalidInputError

#: What the cursor key is derived for (the key itself is the service's token signing key).
_PURPOSE = b"geolabel paging cursor v1"
_MAC_BYTES = 16


class CursorError(InvalidInputError):
    """A cursor that was altered, or issued to another caller or for another query."""

    def __init__(self) -> None:
        super().__init__("cursor is not valid for this query: start again from the first page")


@dataclass(frozen=True)
class Position:
    """Where a page starts: after this row (the last row of the page before) or, ``backward``, before it
    (the first row of the page after: a previous link)."""

    created_at: datetime
    id: uuid.UUID
    backward: bool = False


@dataclass(frozen=True)
class CursorSeal:
    """Seals and opens the cursors of one caller's walk through one query."""

    key: bytes
    user_id: uuid.UUID | None
    query: str

    @classmethod
    def derive(cls, secret: bytes, user_id: uuid.UUID | None, query: str) -> CursorSeal:
        """Cursors for this caller and query, keyed by the service's secret (derived for this purpose)."""
        return cls(hmac.new(secret, _PURPOSE, hashlib.sha256).digest(), user_id, query)

    def _mac(self, body: bytes) -> bytes:
        caller = self.user_id.bytes if self.user_id is not None else b""
        message = b"\x00".join((body, caller, self.query.encode("utf-8")))
        return hmac.new(self.key, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, position: Position) -> str:
        """A cursor for the page after ``position``."""
        body = orjson.dumps([position.created_at.isoformat(), str(position.id), position.backward])
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def decode(self, cursor: str) -> Position:
        """The position a cursor names; :class:`CursorError` unless this service sealed it for this caller and
        this query."""
        try:
            body_text, _, mac_text = cursor.partition(".")
            body, mac = _unb64(body_text), _unb64(mac_text)
        except (ValueError, binascii.Error):
            raise CursorError from None
        if not hmac.compare_digest(mac, self._mac(body)):
            raise CursorError
        try:  # sealed by us, so well formed; checked all the same
            created_at, row_id, backward = orjson.loads(body)
            return Position(datetime.fromisoformat(created_at), uuid.UUID(row_id), bool(backward))
        except (ValueError, TypeError):
            raise CursorError from None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def beyond(table: Table, position: Position) -> ColumnElement[bool]:
    """Rows after ``position`` in ``(created_at, id)`` order (before it, ``backward``): a row comparison the
    btree index answers."""
    key, at = tuple_(table.c.created_at, table.c.id), tuple_(position.created_at, position.id)
    return key < at if position.backward else key > at


def page_order(table: Table, position: Position | None) -> tuple[ColumnElement[Any], ...]:
    """The order to read a page in: ``(created_at, id)``, descending when walking back from ``position`` (the
    rows are then reversed for the page)."""
    if position is not None and position.backward:
        return table.c.created_at.desc(), table.c.id.desc()
    return table.c.created_at.asc(), table.c.id.asc()
