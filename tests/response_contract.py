"""The API's declared responses hold (issue 16): every response a test receives from a route that declares a
response model is checked against it, since clients generate code from that schema.

Routes build their JSON themselves (orjson, no pydantic pass per response: measurably faster on pages), so
nothing but this check keeps what they send and what the schema says the same: the body must validate as the
model (types, required fields) and hold no key the model does not declare."""

from __future__ import annotations

import functools
import json
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ResponseContract:
    """An ASGI wrapper that records, as ``violations``, every 2xx JSON response that breaks its route's
    declared response model."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.violations: list[str] = []

    def __getattr__(self, name: str) -> Any:
        """The wrapped app's attributes (tests reach ``client.app.state``)."""
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        json_body = False
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal status, json_body
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers", []))
                json_body = headers.get(b"content-type", b"").startswith(b"application/json")
            elif message["type"] == "http.response.body" and json_body:
                body.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        route = scope.get("route")
        model = getattr(route, "response_model", None)
        if model is not None and 200 <= status < 300 and json_body:
            problem = contract_problem(model, bytes(body))
            if problem is not None:
                self.violations.append(f"{scope['method']} {getattr(route, 'path', '?')}: {problem}")


@functools.cache
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def contract_problem(model: Any, body: bytes) -> str | None:
    """Why ``body`` is not a ``model`` as the schema declares it, or None."""
    try:
        _adapter(model).validate_json(body)
    except ValidationError as invalid:
        return str(invalid)
    undeclared = undeclared_keys(model, json.loads(body), "body")
    return f"keys the schema does not declare: {', '.join(undeclared)}" if undeclared else None


def undeclared_keys(annotation: Any, data: Any, where: str) -> list[str]:
    """The keys in ``data`` that ``annotation`` (a model, or lists and optionals of them) does not declare."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        return undeclared_keys(members[0], data, where) if len(members) == 1 else []
    if origin in (list, tuple, set, frozenset) and isinstance(data, list) and get_args(annotation):
        item = get_args(annotation)[0]
        return [key for i, value in enumerate(data) for key in undeclared_keys(item, value, f"{where}[{i}]")]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(data, dict):
        if annotation.model_config.get("extra") == "allow":
            return []
        fields = {field.alias or name: field for name, field in annotation.model_fields.items()}
        found = []
        for key, value in data.items():
            if key not in fields:
                found.append(f"{where}.{key}")
            else:
                found.extend(undeclared_keys(fields[key].annotation, value, f"{where}.{key}"))
        return found
    return []
