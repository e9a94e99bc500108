"""OGC API - Features, Part 1: Core, GeoJSON encoding: each project the caller can see is a collection of its
annotations, for QGIS and GDAL's OAPIF driver.

Every read goes through the service filters (``list_projects``/``get_project`` and ``annotation_query``):
a hidden project is the same 404 as a missing one; hidden annotations are never returned, counted, nor used
for a collection's extent. Reads of classified annotations are audited (``audit_read``). Links are absolute,
built from ``GEO_LABEL_PUBLIC_URL`` (else the request's base URL, for a host already accepted). Bad query
parameters give 400 ``{"code", "detail"}``, as OGC expects.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Request
from geoalchemy2.shape import from_shape
from sqlalchemy import any_
from sqlalchemy.orm import Session

from access_control import roll_up
from api import serialize
from api.deps import ContextDep
from api.errors import NO_STORE, problem
from api.responses import GeoJSONResponse, JSONResponse
from geo_label.annotations import (
    COUNT_CAP,
    GEOMETRY_GEOJSON,
    MAX_PAGE,
    AnnotationFilter,
    TimeWindow,
    annotation_query,
    audit_read,
    count_statement,
    page_statement,
)
from geo_label.chips import BBox
from geo_label.db.bulk import id_array
from geo_label.db.context import Caller
from geo_label.db.models import ANNOTATIONS
from geo_label.errors import InvalidInputError, NotFoundError
from geo_label.export.merge import DEFAULT_RULE, find_groups, merge_object
from geo_label.extents import Extent, project_extents
from geo_label.markings import banner_of, marking_columns, marking_of, portion_of
from geo_label.paging import CursorError, CursorSeal, Position
from geo_label.projects import get_project, list_projects

router = APIRouter(prefix="/ogc", tags=["ogc"])

GEOJSON = "application/geo+json"
JSON = "application/json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
WORLD = [-180.0, -90.0, 180.0, 90.0]
DEFAULT_LIMIT = 100
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
# Parameters the items endpoint understands; anything else is a 400 (/req/core/query-param-unknown).
# ``f`` and ``bbox-crs``/``crs`` are accepted for clients that always send them, with CRS84/JSON values only.
ITEM_PARAMETERS = frozenset(
    {"bbox", "limit", "offset", "cursor", "datetime", "f", "bbox-crs", "crs", "merged", "count"}
)
JSON_FORMATS = frozenset({"json", "geojson", JSON, GEOJSON})

ITEMS_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": "bbox",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": False,
            "description": "minlon,minlat,maxlon,maxlat (CRS84); west > east crosses the antimeridian",
            "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": False,
            "description": f"features per page; larger values are lowered to {MAX_PAGE}",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_LIMIT},
        },
        {
            "name": "offset",
            "in": "query",
            "required": False,
            "description": "features to skip (next links page with a cursor instead, which costs nothing)",
            "schema": {"type": "integer", "minimum": 0, "default": 0},
        },
        {
            "name": "cursor",
            "in": "query",
            "required": False,
            "description": "where the page starts: set by the next link (opaque; valid for its caller and "
            "query only)",
            "schema": {"type": "string"},
        },
        {
            "name": "datetime",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": False,
            "description": "an instant or interval (RFC 3339, '..' open) matched against updated_at",
            "schema": {"type": "string"},
        },
        {
            "name": "merged",
            "in": "query",
            "required": False,
            "description": "true: an object labeled on overlapping chips is one feature (with merged_from), "
            "among the features the other parameters select",
            "schema": {"type": "boolean", "default": False},
        },
        {
            "name": "count",
            "in": "query",
            "required": False,
            "description": f"true: numberMatched counted exactly; otherwise a walk's first page counts up "
            f"to {COUNT_CAP:,} (past which it gives geolabel:numberMatchedAtLeast instead) and the pages its "
            "next links lead to do not count",
            "schema": {"type": "boolean", "default": False},
        },
    ]
}


class BadParameter(Exception):
    """A query parameter OGC clients must get a 400 for."""


def bad_request(exc: BadParameter) -> JSONResponse:
    return problem(400, "invalid_parameter", str(exc))


# --- links and documents ------------------------------------------------------------------------------------


def site_url(request: Request) -> str:
    """Where GeoLabel is, for absolute links: the configured public URL, else the request's base URL (whose
    host the trusted-host check has already accepted)."""
    public: str | None = request.app.state.geo_label.settings.public_url
    return public or str(request.base_url).rstrip("/")


def base(request: Request) -> str:
    """The absolute URL of /ogc."""
    return site_url(request) + "/ogc"


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def collection_url(request: Request, project_id: uuid.UUID) -> str:
    return f"{base(request)}/collections/{project_id}"


def json_response(body: Any) -> JSONResponse:
    return JSONResponse(body, headers=NO_STORE)


def geojson_response(body: Any) -> GeoJSONResponse:
    return GeoJSONResponse(body, headers=NO_STORE)


def collection(request: Request, project: Mapping[str, Any], extent: Extent | None) -> dict[str, Any]:
    url = collection_url(request, project["id"])
    extent = extent or Extent(WORLD)
    return {
        "id": str(project["id"]),
        "title": project["name"],
        "description": project["description"] or "",
        "marking": banner_of(project),
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {
            "spatial": {"bbox": [extent.bbox], "crs": CRS84},
            "temporal": {
                "interval": [[iso(extent.start), iso(extent.end)]],
                "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
            },
        },
        "links": [
            link(url, "self", JSON, "this collection"),
            link(f"{url}/items", "items", GEOJSON, "the collection's features"),
        ],
    }


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def visible_projects(session: Session, caller: Caller) -> Iterator[Any]:
    offset = 0
    while True:
        rows, total = list_projects(session, caller, limit=MAX_PAGE, offset=offset)
        yield from rows
        offset += len(rows)
        if not rows or offset >= total:
            return


def find_project(ctx: ContextDep, collection_id: str) -> Any:
    """The visible project ``collection_id`` names; a malformed id is the same 404 as a hidden one."""
    try:
        project_id = uuid.UUID(collection_id)
    except ValueError:
        raise NotFoundError("project") from None
    return get_project(ctx.session, ctx.caller, project_id)


def feature(request: Request, row: Any) -> dict[str, Any]:
    """A row as a Feature: its geometry as PostGIS's GeoJSON text when the query selected it (embedded as it
    is), its marking formatted once per marking (a page repeats a few markings a hundred times)."""
    url = collection_url(request, row["project_id"])
    return {
        "type": "Feature",
        "id": str(row["id"]),
        "geometry": serialize.geometry_of(row),
        "properties": {
            "class": row["label_class"],
            "attributes": serialize.attributes_of(row),
            "status": row["status"],
            "source": row["source"],
            "confidence": row["confidence"],
            "marking": portion_of(row),
            "marking_banner": banner_of(row),
            "chip_id": str(row["chip_id"]),
            "image_id": str(row["image_id"]),
            "version": row["version"],
            "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"]),
            **({"merged_from": row["merged_from"]} if "merged_from" in row else {}),
        },
        "links": [
            link(f"{url}/items/{row['id']}", "self", GEOJSON, "this feature"),
            link(url, "collection", JSON, "the collection"),
        ],
    }


# --- query parameters ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemQuery:
    bbox: BBox | None
    limit: int
    offset: int
    when: TimeWindow | None
    datetime_text: str | None
    merged: bool = False
    count: bool = False
    cursor: str | None = None

    def key(self, project_id: uuid.UUID) -> str:
        """What a paging cursor is bound to: the collection and every parameter that selects features."""
        return f"ogc:{project_id}:{self.bbox!r}:{self.datetime_text!r}:{self.merged}"


def parse_items_query(params: Mapping[str, str], keys: list[str]) -> ItemQuery:
    unknown = sorted(set(keys) - ITEM_PARAMETERS)
    if unknown:
        raise BadParameter(f"unknown query parameter: {', '.join(unknown)}")
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise BadParameter(f"query parameter given more than once: {', '.join(repeated)}")
    if params.get("f") is not None and params["f"] not in JSON_FORMATS:
        raise BadParameter("f must be json or geojson")
    for name in ("bbox-crs", "crs"):
        if params.get(name) is not None and params[name] != CRS84:
            raise BadParameter(f"{name} must be {CRS84}")
    if params.get("cursor") is not None and params.get("offset") not in (None, "0"):
        raise BadParameter("give cursor or offset, not both")
    text = params.get("datetime")
    return ItemQuery(
        bbox=parse_bbox(params["bbox"]) if params.get("bbox") is not None else None,
        limit=min(parse_int(params.get("limit"), "limit", DEFAULT_LIMIT, minimum=1), MAX_PAGE),
        offset=parse_int(params.get("offset"), "offset", 0, minimum=0),
        when=parse_datetime(text) if text is not None else None,
        datetime_text=text,
        merged=parse_bool(params.get("merged"), "merged"),
        count=parse_bool(params.get("count"), "count"),
        cursor=params.get("cursor"),
    )


def parse_bool(text: str | None, name: str) -> bool:
    if text is None or text.lower() in ("false", "0"):
        return False
    if text.lower() in ("true", "1"):
        return True
    raise BadParameter(f"{name} must be true or false")


def parse_int(text: str | None, name: str, default: int, *, minimum: int) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadParameter(f"{name} must be an integer") from None
    if value < minimum:
        raise BadParameter(f"{name} must be at least {minimum}")
    return value


def parse_bbox(text: str) -> BBox:
    parts = text.split(",")
    if len(parts) == 6:  # minlon,minlat,minz,maxlon,maxlat,maxz: heights do not apply to labels
        parts = [parts[0], parts[1], parts[3], parts[4]]
    try:
        return BBox.parse(",".join(parts))
    except InvalidInputError as exc:
        raise BadParameter(exc.detail) from None


def parse_instant(text: str) -> tuple[datetime, bool]:
    """An RFC 3339 date-time (naive means UTC), or a full date; True for a date (it spans its whole day)."""
    try:
        if "T" not in text.upper() and len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC), True
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadParameter(
            "datetime must be an RFC 3339 instant or an interval start/end with '..' for an open end"
        ) from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)), False


def parse_datetime(text: str) -> TimeWindow:
    """``instant``, ``start/end``, ``../end`` or ``start/..``: the window of last changes it selects."""
    if "/" not in text:
        instant, whole_day = parse_instant(text)
        if whole_day:
            return TimeWindow(instant, instant + timedelta(days=1), end_exclusive=True)
        return TimeWindow(instant, instant)
    first, _, second = text.partition("/")
    start = None if first in ("", "..") else parse_instant(first)[0]
    end, exclusive = None, False
    if second not in ("", ".."):
        end, whole_day = parse_instant(second)
        if whole_day:
            end, exclusive = end + timedelta(days=1), True
    if start is None and end is None:
        raise BadParameter("datetime needs at least one closed end")
    if start is not None and end is not None and start > end:
        raise BadParameter("datetime start must not be after its end")
    return TimeWindow(start, end, end_exclusive=exclusive)


def page_url(
    request: Request, project_id: uuid.UUID, query: ItemQuery, *, offset: int = 0, cursor: str | None = None
) -> str:
    params: dict[str, str | int] = {}
    if query.bbox is not None:
        b = query.bbox
        params["bbox"] = f"{b.west},{b.south},{b.east},{b.north}"
    if query.datetime_text is not None:
        params["datetime"] = query.datetime_text
    if query.merged:
        params["merged"] = "true"
    if query.count:
        params["count"] = "true"
    params["limit"] = query.limit
    if cursor is not None:
        params["cursor"] = cursor
    else:
        params["offset"] = offset
    return f"{collection_url(request, project_id)}/items?{urlencode(params, quote_via=quote, safe=',:/')}"


# --- endpoints ----------------------------------------------------------------------------------------------


@router.get("", summary="OGC API - Features landing page")
def landing(request: Request, ctx: ContextDep) -> JSONResponse:
    root = base(request)
    site = site_url(request)
    return json_response(
        {
            "title": "GeoLabel features",
            "description": (
                "Annotations of classified satellite imagery as OGC API - Features: one collection per "
                "project you can see; only annotations you may read are served."
            ),
            "links": [
                link(root, "self", JSON, "this document"),
                link(
                    f"{site}{request.app.openapi_url or '/openapi.json'}",
                    "service-desc",
                    "application/vnd.oai.openapi+json;version=3.1",
                    "the API definition",
                ),
                link(f"{site}/docs", "service-doc", "text/html", "the API documentation"),
                link(f"{root}/conformance", "conformance", JSON, "conformance classes"),
                link(f"{root}/collections", "data", JSON, "the collections"),
            ],
        }
    )


@router.get("/conformance", summary="Conformance classes")
def conformance(ctx: ContextDep) -> JSONResponse:
    return json_response({"conformsTo": CONFORMANCE})


@router.get("/collections", summary="The collections: one per project the caller can see")
def collections(request: Request, ctx: ContextDep) -> JSONResponse:
    projects = list(visible_projects(ctx.session, ctx.caller))
    audit_read(ctx.session, ctx.caller, "project", projects, via="ogc")
    spans = project_extents(ctx.session, ctx.caller, [p["id"] for p in projects])
    url = f"{base(request)}/collections"
    return json_response(
        {
            "links": [link(url, "self", JSON, "the collections")],
            "collections": [collection(request, p, spans.get(p["id"])) for p in projects],
        }
    )


@router.get("/collections/{collectionId}", summary="One collection")
def one_collection(
    request: Request, ctx: ContextDep, collection_id: Annotated[str, Path(alias="collectionId")]
) -> JSONResponse:
    project = find_project(ctx, collection_id)
    audit_read(ctx.session, ctx.caller, "project", [project], via="ogc")
    spans = project_extents(ctx.session, ctx.caller, [project["id"]])
    return json_response(collection(request, project, spans.get(project["id"])))


@router.get(
    "/collections/{collectionId}/items",
    summary="The collection's features (GeoJSON), a page at a time (limit; next and prev links)",
    openapi_extra=ITEMS_OPENAPI,
)
def items(
    request: Request, ctx: ContextDep, collection_id: Annotated[str, Path(alias="collectionId")]
) -> JSONResponse:
    project = find_project(ctx, collection_id)  # 404 before 400: a hidden collection reveals nothing
    try:
        query = parse_items_query(request.query_params, list(request.query_params.keys()))
    except BadParameter as exc:
        return bad_request(exc)
    # The same filter, page and count statements as /api/v1/annotations (geo_label.annotations).
    filters = AnnotationFilter(project_id=project["id"], bbox=query.bbox, updated=query.when)
    heads: dict[uuid.UUID, list[uuid.UUID]] = {}
    shown = filters
    if query.merged:
        groups = find_groups(ctx.session, annotation_query(ctx.caller, filters), DEFAULT_RULE)
        heads = {group[0]: group for group in groups}
        shown = replace(filters, excluded=tuple(member for group in groups for member in group[1:]))
    # Counted when asked, and on a walk's first page (up to the cap): a client following next links has it.
    matched: int | None = None
    if query.count or query.cursor is None:
        cap = None if query.count else COUNT_CAP
        matched = ctx.session.execute(count_statement(ctx.caller, shown, cap=cap)).scalar_one()
    seal = CursorSeal.derive(
        request.app.state.geo_label.signing_key, ctx.caller.user_id, query.key(project["id"])
    )
    try:
        start = seal.decode(query.cursor) if query.cursor is not None else None
    except CursorError as exc:
        return bad_request(BadParameter(exc.detail))
    # One more row than the page: whether the walk goes on, without counting every match.
    page = page_statement(ctx.caller, shown, limit=query.limit + 1, offset=query.offset, start=start)
    rows = list(ctx.session.execute(page).mappings())
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    backward = start is not None and start.backward
    if backward:
        rows.reverse()
    if heads:
        rows = merged_rows(ctx.session, annotation_query(ctx.caller, filters), rows, heads)
    audit_read(ctx.session, ctx.caller, "annotation", rows, via="ogc")
    if matched is None:
        count: dict[str, int] = {}
    elif query.count or matched <= COUNT_CAP:
        count = {"numberMatched": matched}
    else:
        count = {"geolabel:numberMatchedAtLeast": matched}
    return geojson_response(
        {
            "type": "FeatureCollection",
            "marking": roll_up(marking_of(r) for r in rows).banner(),
            **count,
            "numberReturned": len(rows),
            "timeStamp": iso(datetime.now(UTC)),
            "links": page_links(
                request,
                project["id"],
                query,
                seal,
                rows,
                has_next=(more and not backward) or (start is not None and backward),
                has_prev=(more and backward) or (start is not None and not backward) or query.offset > 0,
            ),
            "features": [feature(request, r) for r in rows],
        }
    )


def page_links(
    request: Request,
    project_id: uuid.UUID,
    query: ItemQuery,
    seal: CursorSeal,
    rows: list[Any],
    *,
    has_next: bool,
    has_prev: bool,
) -> list[dict[str, str]]:
    """self, next and prev (keyset cursors from the page's last and first rows), and the collection."""
    here = page_url(request, project_id, query, offset=query.offset, cursor=query.cursor)
    links = [link(here, "self", GEOJSON, "this page")]
    if rows and has_next:
        last = Position(rows[-1]["created_at"], rows[-1]["id"])
        following = page_url(request, project_id, query, cursor=seal.encode(last))
        links.append(link(following, "next", GEOJSON, "next"))
    if has_prev:
        if rows and query.cursor is not None:
            first = Position(rows[0]["created_at"], rows[0]["id"], backward=True)
            previous = page_url(request, project_id, query, cursor=seal.encode(first))
        else:  # an offset page (or an empty one): the previous page by offset
            previous = page_url(request, project_id, query, offset=max(0, query.offset - query.limit))
        links.append(link(previous, "prev", GEOJSON, "previous"))
    links.append(link(collection_url(request, project_id), "collection", JSON, "the collection"))
    return links


def merged_rows(
    session: Session, parts_of: Any, rows: list[Any], heads: dict[uuid.UUID, list[uuid.UUID]]
) -> list[Any]:
    """The page's rows with each group's first part standing for the whole object: the union of the parts'
    geometries, the roll-up of their markings, the weakest status, and ``merged_from``."""
    wanted = [member for row in rows if row["id"] in heads for member in heads[row["id"]]]
    if not wanted:
        return rows
    parts = {
        part.id: part for part in session.execute(parts_of.where(ANNOTATIONS.c.id == any_(id_array(wanted))))
    }
    result = []
    for row in rows:
        group = heads.get(row["id"])
        if group is None:
            result.append(row)
            continue
        merged = merge_object([parts[member] for member in group if member in parts])
        result.append(
            {
                **row,
                **marking_columns(merged.marking),
                "geometry": from_shape(merged.geometry, srid=4326),
                "geometry_geojson": None,  # the part's own shape no longer: the union's, from WKB
                "status": merged.status,
                "merged_from": merged.merged_from,
            }
        )
    return result


@router.get("/collections/{collectionId}/items/{featureId}", summary="One feature (GeoJSON)")
def one_feature(
    request: Request,
    ctx: ContextDep,
    collection_id: Annotated[str, Path(alias="collectionId")],
    feature_id: Annotated[str, Path(alias="featureId")],
) -> JSONResponse:
    project = find_project(ctx, collection_id)
    try:
        annotation_id = uuid.UUID(feature_id)
    except ValueError:
        raise NotFoundError("annotation") from None
    statement = annotation_query(ctx.caller, AnnotationFilter(project_id=project["id"]))
    found = statement.add_columns(GEOMETRY_GEOJSON).where(ANNOTATIONS.c.id == annotation_id)
    row = ctx.session.execute(found).mappings().one_or_none()
    if row is None:
        raise NotFoundError("annotation")  # hidden or missing: the same answer
    audit_read(ctx.session, ctx.caller, "annotation", [row], via="ogc")
    return geojson_response(feature(request, row))
