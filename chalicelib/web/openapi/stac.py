"""The OpenAPI 3.0 description of the STAC API (its service-desc) and an HTML page of it.

STAC API 1.0 asks for `application/vnd.oai.openapi+json;version=3.0`, so this document is
OpenAPI 3.0 and separate from the 3.1 document of /v1 (GET /v1/openapi.json).
"""

from __future__ import annotations

import html
from typing import Any

from chalicelib.web.openapi.head import with_head
from chalicelib.web.stac import params

_ERROR = {
    "type": "object",
    "required": ["code", "message", "request_id"],
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "request_id": {"type": "string"},
    },
}
_OBJECT = {"type": "object", "additionalProperties": True}


def _json(schema: str, media: str = "application/json") -> dict[str, Any]:
    return {media: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def _responses(ok: str, media: str, *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": "OK", "content": _json(ok, media)}}
    for status in errors:
        out[str(status)] = {"description": "Error", "content": _json("Error")}
    return out


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "schema": schema,
        "description": description,
        "style": "form",
        "explode": False,
    }


_LIMIT = _query(
    "limit",
    {"type": "integer", "minimum": 1, "default": params.DEFAULT_LIMIT},
    f"Items per page; more than {params.MAX_LIMIT} is clamped to {params.MAX_LIMIT}.",
)
_BBOX = _query(
    "bbox",
    {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
    "minx,miny,maxx,maxy (WGS84; minx > maxx crosses the antimeridian), or 6 numbers with "
    "heights (ignored).",
)
_DATETIME = _query(
    "datetime",
    {"type": "string"},
    "An RFC 3339 date-time, or an interval start/end with '..' for an open end. Matched "
    "against the item's datetime: when its map was added.",
)
_CURSOR = _query("cursor", {"type": "string"}, "From a next link.")
_IDS = _query("ids", {"type": "array", "items": {"type": "string"}}, "Item ids (map ids).")
_COLLECTIONS = _query(
    "collections", {"type": "array", "items": {"type": "string"}}, "Collection ids (formats)."
)
_COLLECTION_ID = {
    "name": "collection_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}
_GEOJSON = "application/geo+json"


def _get(operation: str, summary: str, ok: str, media: str, *errors: int, **extra: Any) -> Any:
    return {
        "get": {
            "operationId": operation,
            "summary": summary,
            **extra,
            "responses": _responses(ok, media, *errors),
        }
    }


def document(root: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document, its server the API root the client reached."""
    search_body = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "bbox": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
            "datetime": {"type": "string"},
            "ids": {"type": "array", "items": {"type": "string"}},
            "collections": {"type": "array", "items": {"type": "string"}},
            "limit": {"type": "integer", "minimum": 1},
            "cursor": {"type": "string"},
        },
    }
    search = _get(
        "searchItemsGet",
        "Search the items the caller may see",
        "ItemCollection",
        _GEOJSON,
        400,
        401,
        parameters=[_BBOX, _DATETIME, _IDS, _COLLECTIONS, _LIMIT, _CURSOR],
    )
    search["post"] = {
        "operationId": "searchItemsPost",
        "summary": "Search the items the caller may see (JSON body)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": search_body}}},
        "responses": _responses("ItemCollection", _GEOJSON, 400, 401, 415),
    }
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Map Stock STAC API",
            "version": "1.0.0",
            "description": "STAC API 1.0 over the maps you may see. A bearer token (from "
            "POST /v1/auth/token) sees what that member may see; without one, public maps.",
        },
        "servers": [{"url": root}],
        "security": [{"bearer": []}, {}],
        "paths": {
            "/stac": _get("getLandingPage", "Landing page", "Catalog", "application/json", 401),
            "/stac/conformance": _get(
                "getConformanceDeclaration",
                "Conformance classes",
                "Conformance",
                "application/json",
                401,
            ),
            "/stac/api": _get(
                "getServiceDesc",
                "This document",
                "Object",
                "application/vnd.oai.openapi+json;version=3.0",
                400,
            ),
            "/stac/api.html": {
                "get": {
                    "operationId": "getServiceDoc",
                    "summary": "This description as a web page",
                    "responses": {
                        "200": {"description": "OK", "content": {"text/html": {}}},
                        "400": {"description": "Error", "content": _json("Error")},
                    },
                }
            },
            "/stac/collections": _get(
                "getCollections",
                "Every collection",
                "Collections",
                "application/json",
                401,
            ),
            "/stac/collections/{collection_id}": _get(
                "describeCollection",
                "One collection",
                "Collection",
                "application/json",
                401,
                404,
                parameters=[_COLLECTION_ID],
            ),
            "/stac/collections/{collection_id}/items": _get(
                "getFeatures",
                "A page of a collection's items",
                "ItemCollection",
                _GEOJSON,
                400,
                401,
                404,
                parameters=[
                    _COLLECTION_ID,
                    _BBOX,
                    _DATETIME,
                    _IDS,
                    _query(
                        "collections",
                        {"type": "array", "items": {"type": "string"}},
                        "As in item search (STAC clients send it here): the items of this "
                        "collection if the list names it, none if it does not.",
                    ),
                    _LIMIT,
                    _CURSOR,
                ],
            ),
            "/stac/collections/{collection_id}/items/{item_id}": _get(
                "getFeature",
                "One item",
                "Item",
                _GEOJSON,
                401,
                404,
                parameters=[
                    _COLLECTION_ID,
                    {
                        "name": "item_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
            ),
            "/stac/search": search,
        },
        "components": {
            "schemas": {
                "Error": _ERROR,
                "Object": _OBJECT,
                "Catalog": _OBJECT,
                "Conformance": {
                    "type": "object",
                    "required": ["conformsTo"],
                    "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
                },
                "Collections": _OBJECT,
                "Collection": _OBJECT,
                "Item": _OBJECT,
                "ItemCollection": _OBJECT,
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
    with_head(doc["paths"])
    return doc


def html_page(root: str) -> str:
    """The document as a plain HTML page (every text escaped)."""
    doc = document(root)
    rows = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            names = ", ".join(p["name"] for p in operation.get("parameters", []))
            rows.append(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>".format(
                    html.escape(method.upper()),
                    html.escape(root + path),
                    html.escape(operation["summary"]),
                    html.escape(names),
                )
            )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(doc['info']['title'])}</title></head><body>"
        f"<h1>{html.escape(doc['info']['title'])}</h1>"
        f"<p>{html.escape(doc['info']['description'])}</p>"
        f'<p>Machine-readable: <a href="{html.escape(root)}/stac/api">OpenAPI 3.0</a>.</p>'
        "<table><thead><tr><th>Method</th><th>Path</th><th>What</th><th>Parameters</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></body></html>"
    )
