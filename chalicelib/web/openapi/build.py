"""The OpenAPI 3.1 document of the HTTP API (served at GET /v1/openapi.json)."""

from __future__ import annotations

import functools
from typing import Any

from chalicelib import errors, rules
from chalicelib.web import inputs, part_checksums
from chalicelib.web.openapi.fields import object_schema, query_parameters
from chalicelib.web.openapi.head import with_head
from chalicelib.web.request import MAX_COMPLETE_JSON_BYTES, MAX_JSON_BYTES

_UUID = {"type": "string", "format": "uuid"}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_PART_SHA256 = {
    "type": "string",
    "pattern": "^[A-Za-z0-9+/]{43}=$",
    "description": "A part's SHA-256 digest in base64, as S3's x-amz-checksum-sha256 takes it.",
}
_CHECKSUM_ALGORITHM = {
    "type": ["string", "null"],
    "enum": [*rules.PART_CHECKSUM_ALGORITHMS, None],
    "description": "SHA256: the upload was created with S3's per-part SHA-256 checksums; every "
    "part URL is then asked for with the part's checksum (checksums_sha256) and its PUT "
    "carries it as x-amz-checksum-sha256. null: parts go without.",
}
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["code", "message", "request_id"],
        "properties": {
            "code": {"type": "string", "enum": list(errors.CODES)},
            "message": {"type": "string"},
            "request_id": {"type": "string"},
        },
    },
    "Map": {
        "type": "object",
        "required": [
            "id",
            "title",
            "description",
            "filename",
            "size",
            "sha256",
            "format",
            "media_type",
            "visibility",
            "status",
            "error",
            "metadata",
            "owner",
            "created_at",
            "updated_at",
            "processed_at",
            "download_count",
        ],
        "properties": {
            "id": _UUID,
            "title": {"type": "string"},
            "description": {"type": "string"},
            "filename": {"type": "string"},
            "size": {"type": "integer", "minimum": 0},
            "sha256": {"type": ["string", "null"], "pattern": rules.SHA256_PATTERN},
            "format": {"type": ["string", "null"], "enum": [*rules.FORMATS, None]},
            "media_type": {"type": ["string", "null"]},
            "visibility": {"type": "string", "enum": list(rules.VISIBILITIES)},
            "status": {"type": "string", "enum": list(rules.STATUSES)},
            "stage": {"type": ["string", "null"]},
            "progress": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
            "error": {
                "type": ["object", "null"],
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
            "metadata": {"type": "object"},
            "variants": {"type": ["object", "null"]},
            "owner": {"type": "string"},
            "created_at": _TIME,
            "updated_at": _TIME,
            "uploaded_at": _TIME,
            "processed_at": _TIME,
            "preview": {
                "type": ["object", "null"],
                "required": ["width", "height", "media_type"],
                "properties": {
                    "width": {"type": "integer", "minimum": 1, "maximum": 512},
                    "height": {"type": "integer", "minimum": 1, "maximum": 512},
                    "media_type": {"type": "string", "enum": ["image/png", "image/webp"]},
                },
            },
            "download_count": {"type": "integer", "minimum": 0},
        },
    },
    "MapEnvelope": {
        "type": "object",
        "required": ["map"],
        "properties": {
            "map": {"$ref": "#/components/schemas/Map"},
            "upload": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["method", "url", "fields", "expires_at"],
                        "properties": {
                            "method": {"const": "POST"},
                            "url": {"type": "string"},
                            "fields": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                            "expires_at": {"type": "string", "format": "date-time"},
                        },
                    },
                    {
                        "type": "object",
                        "required": ["method", "part_size", "part_count", "expires_at"],
                        "properties": {
                            "method": {"const": "multipart"},
                            "part_size": {"type": "integer", "minimum": 1},
                            "part_count": {"type": "integer", "minimum": 1, "maximum": 10000},
                            "checksum_algorithm": _CHECKSUM_ALGORITHM,
                            "expires_at": {"type": "string", "format": "date-time"},
                        },
                    },
                ]
            },
        },
    },
    "PartUrls": {
        "type": "object",
        "required": ["parts"],
        "properties": {
            "parts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["part_number", "size", "url", "expires_at"],
                    "properties": {
                        "part_number": {"type": "integer"},
                        "size": {"type": "integer"},
                        "url": {"type": "string"},
                        "headers": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                            "description": "Headers the PUT must carry as given (signed into "
                            "the URL): x-amz-checksum-sha256 for an upload with checksums.",
                        },
                        "expires_at": {"type": "string", "format": "date-time"},
                    },
                },
            }
        },
    },
    "UploadState": {
        "type": "object",
        "required": ["method", "size", "part_size", "part_count", "parts"],
        "properties": {
            "method": {"const": "multipart"},
            "size": {"type": "integer"},
            "part_size": {"type": "integer"},
            "part_count": {"type": "integer"},
            "checksum_algorithm": _CHECKSUM_ALGORITHM,
            "expires_at": _TIME,
            "parts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["part_number", "size", "etag"],
                    "properties": {
                        "part_number": {"type": "integer"},
                        "size": {"type": "integer"},
                        "etag": {"type": "string"},
                        "checksum_sha256": {
                            **_PART_SHA256,
                            "description": "The part's SHA-256 as S3 holds it (uploads with "
                            "checksums, where S3 reports it).",
                        },
                    },
                },
            },
        },
    },
    "MapPage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Map"}},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "User": {
        "type": "object",
        "required": ["username", "role", "active", "active_until"],
        "properties": {
            "username": {"type": "string"},
            "role": {"type": "string", "enum": list(rules.ROLES)},
            "active": {"type": "boolean"},
            "active_until": _TIME,
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    },
    "Me": {
        "allOf": [
            {"$ref": "#/components/schemas/User"},
            {
                "type": "object",
                "required": ["usage", "quota"],
                "properties": {
                    "usage": {"$ref": "#/components/schemas/Usage"},
                    "quota": {"$ref": "#/components/schemas/Usage"},
                },
            },
        ]
    },
    "Usage": {
        "type": "object",
        "required": ["maps", "bytes"],
        "properties": {"maps": {"type": "integer"}, "bytes": {"type": "integer"}},
    },
    "Token": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer"},
        },
    },
}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "Error", "content": _json("Error")} for s in statuses}


def _ok(status: int, ref: str | None, description: str = "OK") -> dict[str, Any]:
    body = {"content": _json(ref)} if ref else {}
    return {str(status): {"description": description, **body}}


_MAP_ID = {"name": "map_id", "in": "path", "required": True, "schema": _UUID}
_SECURED: list[dict[str, list[str]]] = [{"bearer": []}, {}]  # a token, or none (a guest)
_JSON_BODY = "application/json"


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {_JSON_BODY: {"schema": schema}}}


def _object(
    properties: dict[str, Any], required: list[str] | None = None, min_props: int = 0
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    if min_props:
        schema["minProperties"] = min_props
    return schema


def _paths() -> dict[str, Any]:
    part = {"type": "integer", "minimum": 1, "maximum": 10000}
    done_parts = {
        "type": "array",
        "items": _object(
            {
                "part_number": part,
                "etag": {"type": "string"},
                "checksum_sha256": {
                    **_PART_SHA256,
                    "description": "Optional: checked against the checksum S3 holds.",
                },
            },
            ["part_number", "etag"],
        ),
        "maxItems": 10000,
        "description": "Every part, in order; the body may be up to "
        f"{MAX_COMPLETE_JSON_BYTES} bytes (other JSON bodies: {MAX_JSON_BYTES}).",
    }
    form = object_schema(inputs.MAP_CHANGE)
    form["properties"]["file"] = {"type": "string", "format": "binary"}
    form["required"] = ["file"]
    return {
        "/v1/health": {
            "get": {
                "operationId": "health",
                "security": [{}],
                "responses": {**_ok(200, None), **_errors(503)},
            }
        },
        "/v1/openapi.json": {
            "get": {"operationId": "openapi", "security": [{}], "responses": _ok(200, None)}
        },
        "/v1/auth/token": {
            "post": {
                "operationId": "createToken",
                "security": [{}],
                "requestBody": _body(object_schema(inputs.LOGIN)),
                "responses": {**_ok(200, "Token"), **_errors(400, 401, 415, 429, 503)},
            }
        },
        "/v1/me": {
            "get": {
                "operationId": "me",
                "security": [{"bearer": []}],
                "responses": {**_ok(200, "Me"), **_errors(401, 503)},
            }
        },
        "/v1/users": {
            "get": {
                "operationId": "listUsers",
                "security": [{"bearer": []}],
                "responses": {"200": {"description": "OK"}, **_errors(401, 403)},
            },
            "post": {
                "operationId": "createUser",
                "security": [{"bearer": []}],
                "requestBody": _body(object_schema(inputs.NEW_USER)),
                "responses": {**_ok(201, "User"), **_errors(400, 401, 403, 409, 415)},
            },
        },
        "/v1/users/{username}": {
            "patch": {
                "operationId": "updateUser",
                "security": [{"bearer": []}],
                "parameters": [
                    {
                        "name": "username",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": _body(object_schema(inputs.USER_CHANGE, min_properties=1)),
                "responses": {**_ok(200, "User"), **_errors(400, 401, 403, 404, 415)},
            }
        },
        "/v1/maps": {
            "get": {
                "operationId": "browseMaps",
                "security": _SECURED,
                "parameters": query_parameters(inputs.BROWSE_QUERY),
                "responses": {**_ok(200, "MapPage"), **_errors(400, 401)},
            },
            "post": {
                "operationId": "createMap",
                "security": [{"bearer": []}],
                "parameters": query_parameters(
                    inputs.DIRECT_UPLOAD, "a raw body (application/octet-stream)"
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        _JSON_BODY: {"schema": object_schema(inputs.PRESIGNED_UPLOAD)},
                        "multipart/form-data": {"schema": form},
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        },
                    },
                },
                "responses": {
                    **_ok(201, "MapEnvelope", "Created"),
                    **_errors(400, 401, 403, 413, 415, 503),
                },
            },
        },
        "/v1/maps/{map_id}": {
            "get": {
                "operationId": "getMap",
                "security": _SECURED,
                "parameters": [_MAP_ID],
                "responses": {**_ok(200, "Map"), **_errors(401, 404)},
            },
            "patch": {
                "operationId": "updateMap",
                "security": [{"bearer": []}],
                "parameters": [_MAP_ID],
                "requestBody": _body(object_schema(inputs.MAP_CHANGE, min_properties=1)),
                "responses": {**_ok(200, "Map"), **_errors(400, 401, 403, 404, 415)},
            },
            "delete": {
                "operationId": "deleteMap",
                "security": [{"bearer": []}],
                "parameters": [_MAP_ID],
                "responses": {"204": {"description": "Deleted"}, **_errors(401, 403, 404)},
            },
        },
        "/v1/maps/{map_id}/upload": {
            "get": {
                "operationId": "getUpload",
                "security": [{"bearer": []}],
                "parameters": [_MAP_ID],
                "responses": {**_ok(200, "UploadState"), **_errors(401, 403, 404, 409)},
            },
            "delete": {
                "operationId": "abortUpload",
                "security": [{"bearer": []}],
                "parameters": [_MAP_ID],
                "responses": {"204": {"description": "Aborted"}, **_errors(401, 403, 404, 409)},
            },
        },
        "/v1/maps/{map_id}/upload/parts": {
            "post": {
                "operationId": "uploadPartUrls",
                "security": [{"bearer": []}],
                "parameters": [_MAP_ID],
                "requestBody": _body(
                    _object(
                        {
                            "part_numbers": {
                                "type": "array",
                                "items": part,
                                "minItems": 1,
                                "maxItems": 100,
                                "uniqueItems": True,
                            },
                            part_checksums.FIELD: {
                                "type": "object",
                                "propertyNames": {"pattern": "^[1-9][0-9]{0,4}$"},
                                "additionalProperties": _PART_SHA256,
                                "description": "Required for an upload created with "
                                'checksum_algorithm "SHA256" (forbidden otherwise): each '
                                "asked part's SHA-256 in base64, by part number; it is signed "
                                "into the part's URL.",
                            },
                        },
                        ["part_numbers"],
                    )
                ),
                "responses": {**_ok(200, "PartUrls"), **_errors(400, 401, 403, 404, 409, 415)},
            }
        },
        "/v1/maps/{map_id}/upload/complete": {
            "post": {
                "operationId": "completeUpload",
                "security": [{"bearer": []}],
                "parameters": [_MAP_ID],
                "requestBody": _body(_object({"parts": done_parts}, ["parts"])),
                "responses": {**_ok(200, "Map"), **_errors(400, 401, 403, 404, 409, 413, 415)},
            }
        },
        "/v1/maps/{map_id}/download": {
            "get": {
                "operationId": "downloadMap",
                "security": _SECURED,
                "parameters": [_MAP_ID, *query_parameters(inputs.DOWNLOAD_QUERY)],
                "responses": {
                    "302": {"description": "Redirect to a presigned URL (≤ 5 minutes)"},
                    "200": {"description": "With redirect=false: {url, expires_at}"},
                    **_errors(400, 401, 404, 409),
                },
            }
        },
        "/v1/maps/{map_id}/preview": {
            "get": {
                "operationId": "previewMap",
                "security": _SECURED,
                "parameters": [_MAP_ID, *query_parameters(inputs.PREVIEW_QUERY)],
                "responses": {
                    "302": {"description": "Redirect to the preview image (≤ 5 minutes)"},
                    "200": {"description": "With redirect=false: {url, expires_at}"},
                    **_errors(400, 401, 404),
                },
            }
        },
    }


@functools.lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Map Stock API",
            "version": "1.0.0",
            "description": "Upload, process, browse and download digital maps.",
        },
        "paths": with_head(_paths()),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
