"""Annotation attributes checked against the class's attribute definitions in the project's label schema."""

from __future__ import annotations

from typing import Any

from geo_label.errors import InvalidInputError, brief

PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "enum": (str,),
}

#: Attributes go back to clients (and exports) through orjson, which encodes 64-bit integers only: a larger
#: value made the response fail with an internal error (500) instead of a clear refusal (422).
INTEGER_RANGE = (-(2**63), 2**63 - 1)


def find_class(schema: dict[str, Any], name: str) -> dict[str, Any]:
    for label_class in schema.get("classes", []):
        if label_class["name"] == name:
            return dict(label_class)
    names = ", ".join(c["name"] for c in schema.get("classes", []))
    raise InvalidInputError(f"unknown class {brief(name)}; this project's classes are: {names}")


def check_attributes(label_class: dict[str, Any], attributes: Any) -> dict[str, Any]:
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise InvalidInputError("attributes must be an object")
    definitions = {a["name"]: a for a in label_class.get("attributes", [])}
    unknown = sorted(set(attributes) - set(definitions))
    if unknown:
        raise InvalidInputError(f"class {label_class['name']!r} has no attribute {brief(unknown[0])}")
    for name, definition in definitions.items():
        if name not in attributes:
            if definition.get("required"):
                raise InvalidInputError(f"attribute {name!r} is required for class {label_class['name']!r}")
            continue
        value = attributes[name]
        kind = definition["type"]
        bad_bool = isinstance(value, bool) and kind != "boolean"
        if bad_bool or not isinstance(value, PYTHON_TYPES[kind]):
            raise InvalidInputError(f"attribute {name!r} must be of type {kind}")
        if isinstance(value, int) and not isinstance(value, bool):
            low, high = INTEGER_RANGE
            if not low <= value <= high:
                raise InvalidInputError(f"attribute {name!r} must lie between {low} and {high}")
        if kind == "enum" and value not in definition["values"]:
            raise InvalidInputError(
                f"attribute {name!r} must be one of {', '.join(map(str, definition['values']))}"
            )
    return dict(attributes)
