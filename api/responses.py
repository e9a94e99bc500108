"""JSON responses encoded with orjson (UUIDs, datetimes and large feature lists, fast)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"
