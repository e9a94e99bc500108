"""Validate a dataset's STAC catalog with pystac, offline: the core schemas pystac ships and the extension
schemas in ``stac_schemas/`` (label v1.0.1, projection v2.0.0); any other schema is an error, never a
download."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pystac
from pystac.validation import JsonSchemaSTACValidator, validate_all

SCHEMA_FILES = {
    "https://stac-extensions.github.io/label/v1.0.1/schema.json": "label-v1.0.1.json",
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json": "projection-v2.0.0.json",
}


class OfflineValidator(JsonSchemaSTACValidator):
    """pystac's JSON Schema validator with the extension schemas given and fetching refused."""

    def __init__(self) -> None:
        super().__init__()
        folder = resources.files("geo_label.datasets") / "stac_schemas"
        for uri, name in SCHEMA_FILES.items():
            self.schema_cache[uri] = json.loads((folder / name).read_text())

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        if schema_uri not in self.schema_cache:
            raise pystac.errors.STACValidationError(f"no offline copy of the schema {schema_uri}")
        return self.schema_cache[schema_uri]


def validate_catalog(root: Path) -> None:
    """Validate ``root/catalog.json`` and everything it links to; raises pystac's STACValidationError."""
    pystac.validation.RegisteredValidator.set_validator(OfflineValidator())
    catalog = pystac.Catalog.from_file(str(root / "catalog.json"))
    validate_all(catalog)
