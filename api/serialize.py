"""Rows to JSON-ready dicts (lists are returned with orjson directly: thousands of features per page)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import shapely

from geo_label.annotations import PAGE_COLUMNS
from geo_label.markings import MARKING_COLUMNS, banner_of, banner_of_values


def geojson(wkb_element: Any) -> dict[str, Any]:
    """GeoAlchemy2's WKB element to a GeoJSON geometry dict (coordinates rounded to 1e-9 degrees)."""
    geometry = shapely.from_wkb(bytes(wkb_element.data))
    result: dict[str, Any] = shapely.geometry.mapping(geometry)
    return result


def geometry_of(row: Any) -> Any:
    """PostGIS's own GeoJSON text when the query selected it (embedded as is), else decoded from WKB."""
    text = row.get("geometry_geojson") if isinstance(row, Mapping) else None
    return orjson.Fragment(text) if text is not None else geojson(row["geometry"])


def attributes_of(row: Any) -> Any:
    """The attributes: JSON text from a bulk read (embedded as is), else the decoded dict."""
    text = row.get("attributes_json") if isinstance(row, Mapping) else None
    return orjson.Fragment(text) if text is not None else row["attributes"]


#: A page row's plain columns (geo_label.annotations.PAGE_COLUMNS, in order) under their names in responses.
_PAGE_KEYS = [{"label_class": "class"}.get(column.name, column.name) for column in PAGE_COLUMNS]
_PAGE_AT = {column.name: i for i, column in enumerate(PAGE_COLUMNS)}


def annotation_page(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """A page's plain rows as annotations (the same members as :func:`annotation`), built without an
    intermediate mapping per row: pages hold up to a thousand."""
    marking_at = [_PAGE_AT[name] for name in MARKING_COLUMNS]
    attributes_at, geometry_at = _PAGE_AT["attributes_json"], _PAGE_AT["geometry_geojson"]
    plain = _PAGE_KEYS[: min(marking_at)]
    items = []
    for row in rows:
        item = dict(zip(plain, row, strict=False))
        item["marking"] = banner_of_values(*(row[i] for i in marking_at))
        item["attributes"] = orjson.Fragment(row[attributes_at])
        item["geometry"] = orjson.Fragment(row[geometry_at])
        items.append(item)
    return items


def annotation(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "project_id": row["project_id"],
        "image_id": row["image_id"],
        "chip_id": row["chip_id"],
        "class": row["label_class"],
        "geometry": geometry_of(row),
        "marking": banner_of(row),
        "attributes": attributes_of(row),
        "source": row["source"],
        "confidence": row["confidence"],
        "status": row["status"],
        "version": row["version"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "updated_by": row["updated_by"],
        "updated_at": row["updated_at"],
        "reviewed_by": row["reviewed_by"],
        "prediction_id": row["prediction_id"],
    }


def version(row: Any) -> dict[str, Any]:
    return {
        "annotation_id": row["annotation_id"],
        "version": row["version"],
        "operation": row["operation"],
        "class": row["label_class"],
        "geometry": geojson(row["geometry"]) if row["geometry"] is not None else None,
        "marking": banner_of(row),
        "attributes": row["attributes"],
        "status": row["status"],
        "changed_by": row["changed_by"],
        "changed_at": row["changed_at"],
    }


def chip(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "image_id": row["image_id"],
        "project_id": row["project_id"],
        "marking": banner_of(row),
        "geometry": geojson(row["footprint"]),
        "row_off": row["row_off"],
        "col_off": row["col_off"],
        "width": row["width"],
        "height": row["height"],
        "valid_fraction": row["valid_fraction"],
        "status": row["status"],
        "preview_url": f"/api/v1/chips/{row['id']}/preview",
    }


def image(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "project_id": row["project_id"],
        "name": row["name"],
        "marking": banner_of(row),
        "sha256": row["sha256"],
        "driver": row["driver"],
        "width": row["width"],
        "height": row["height"],
        "bands": row["band_count"],
        "dtype": row["dtype"],
        "gsd_m": row["gsd_m"],
        "acquired_at": row["acquired_at"],
        "sensor": row["sensor"],
        "footprint": geojson(row["footprint"]),
        "chip_size": row["chip_size"],
        "chip_overlap": row["chip_overlap"],
        "ingested_at": row["ingested_at"],
    }


def project(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "marking": banner_of(row),
        "description": row["description"],
        "classes": row["label_schema"]["classes"],
        "review_required": row["review_required"],
        "created_at": row["created_at"],
    }


def model(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "project_id": row["project_id"],
        "name": row["name"],
        "version": row["version"],
        "ref": f"{row['name']}@{row['version']}",
        "description": row["description"],
        "marking": banner_of(row),
        "created_at": row["created_at"],
    }


def suggestion(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "chip_id": row["chip_id"],
        "model_id": row["model_id"],
        "model": f"{row['model_name']}@{row['model_version']}",
        "class": row["label_class"],
        "score": row["score"],
        "state": row["state"],
        "annotation_id": row["annotation_id"],
        "decided_by": row["decided_by"],
        "decided_at": row["decided_at"],
        "marking": banner_of(row),
        "geometry": orjson.Fragment(row["geometry_geojson"]),
    }
