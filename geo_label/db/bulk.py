"""Column expressions for bulk reads: pages of a thousand rows and streamed exports.

SQLAlchemy's result processing is cheap for most types but not for these: every ``text[]`` marking column
goes through ARRAY's per-item processor and every JSONB value through ``json.loads``, tens of microseconds a
row on the marked tables. psycopg already returns ``text[]`` as a list, and JSON the caller only re-embeds is
best left as text, so bulk reads select these forms instead and fetch rows all at once (``.all()``). (The
export does not read rows at all: PostgreSQL writes its features, see :mod:`geo_label.export.postgis`.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Table, Uuid, bindparam, cast, type_coerce
from sqlalchemy.types import NullType, Text

from geo_label.markings import MARKING_COLUMNS


def as_driver_value(column: Any) -> ColumnElement[Any]:
    """``column`` as psycopg returns it, with no SQLAlchemy result processing (lists for arrays)."""
    return type_coerce(column, NullType()).label(column.name)


def as_json_text(column: Any, name: str | None = None) -> ColumnElement[str]:
    """A JSON/JSONB column as its text, to embed in a response as is (``orjson.Fragment``)."""
    return cast(column, Text).label(name or f"{column.name}_json")


def id_array(ids: Iterable[uuid.UUID]) -> Any:
    """``ids`` as one array parameter (``= ANY``, ``<> ALL``): one bind for any number, and the index."""
    return bindparam(None, list(ids), type_=ARRAY(Uuid()))


def marking_columns_of(table: Table) -> list[ColumnElement[Any]]:
    """The marking columns of ``table`` in the form :func:`geo_label.markings.marking_of` reads."""
    return [as_driver_value(table.c[name]) for name in MARKING_COLUMNS]
