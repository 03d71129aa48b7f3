"""POST /v1/maps: direct uploads (multipart or raw body) and presigned POST uploads."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

from chalice import Blueprint, Response

from chalicelib import db, errors, logs, storage
from chalicelib.auth import Caller
from chalicelib.config import get_settings
from chalicelib.web import forms, part_checksums
from chalicelib.web.caller import caller_args, current_caller
from chalicelib.web.envelope import json_response
from chalicelib.web.fields import (
    SHA256,
    VISIBILITIES,
    Field,
    check_fields,
    check_filename,
    check_text,
    check_title,
    check_value,
)
from chalicelib.web.map_rows import create_row
from chalicelib.web.request import json_body, media_type, query_params, raw_body
from chalicelib.web.routes import multipart

bp = Blueprint(__name__)

_DESCRIPTIVE = {
    "title": Field("str", max_length=200),
    "description": Field("text", max_length=5000),
    "visibility": Field("choice", choices=VISIBILITIES),
}
_PRESIGNED = {
    **_DESCRIPTIVE,
    "filename": Field("str", required=True, max_length=255),
    "size": Field("int", required=True, minimum=1),
    "sha256": Field("str", max_length=64),
    "multipart": Field("bool"),
    # S3's per-part checksums of a multipart upload (a single presigned POST has no parts:
    # its integrity is the whole file's `sha256`).
    "checksum_algorithm": Field("choice", choices=part_checksums.ALGORITHMS),
}
_RAW_QUERY = {**_DESCRIPTIVE, "filename": Field("str", required=True, max_length=255)}


@bp.route(
    "/maps",
    methods=["POST"],
    content_types=["application/json", "multipart/form-data", "application/octet-stream"],
)
def create_map() -> Response:
    """Active members: upload directly (small files) or get a presigned POST (any size)."""
    request = bp.current_request
    caller = current_caller(request)
    if caller is None:
        raise errors.unauthorized("Log in to upload maps.")
    kind = media_type(request)
    if kind != "application/octet-stream" and request.query_params:
        name = check_text("query", next(iter(request.query_params)), 64)
        raise errors.invalid(
            f"query {name}: only raw (application/octet-stream) uploads take query parameters; "
            "send fields in the body."
        )
    if kind == "application/json":
        return _presigned(caller, json_body(request))
    body = raw_body(request)
    limit = get_settings().max_direct_upload_bytes
    if len(body) > limit + (64 * 1024 if kind == "multipart/form-data" else 0):
        raise errors.too_large(
            f"Direct uploads are limited to {limit} bytes: send JSON "
            '{"filename","size"} to POST /v1/maps for a presigned upload instead.'
        )
    if kind == "multipart/form-data":
        fields, data = _form_fields(body, request.headers.get("content-type", ""))
    else:
        fields = check_fields(query_params(request), _RAW_QUERY, "query ")
        data = body
    if not data:
        raise errors.invalid("file: is empty.")
    if len(data) > limit:
        raise errors.too_large(
            f"file: direct uploads are limited to {limit} bytes; use a presigned upload."
        )
    return _direct(caller, fields, data)


def _form_fields(body: bytes, content_type: str) -> tuple[dict[str, Any], bytes]:
    fields: dict[str, Any] = {}
    data: bytes | None = None
    for part in forms.parse(body, content_type):
        if part.name == "file":
            if data is not None:
                raise errors.invalid("file: send exactly one file part.")
            if not part.filename:
                raise errors.invalid("file: the part needs a filename.")
            fields["filename"] = part.filename
            data = bytes(part.data)
        elif part.name in _DESCRIPTIVE:
            if part.name in fields:
                raise errors.invalid(f"{part.name}: give it once.")
            try:
                fields[part.name] = part.data.decode("utf-8")
            except UnicodeDecodeError:
                raise errors.invalid(f"{part.name}: must be UTF-8 text.") from None
        else:
            raise errors.invalid(f"{check_text('part', part.name, 64)}: unknown form part.")
    if data is None:
        raise errors.invalid("file: a file part is required.")
    described = {
        k: check_value(k, v, _DESCRIPTIVE[k]) for k, v in fields.items() if k != "filename"
    }
    return {**described, "filename": fields["filename"]}, data


def _common(fields: dict[str, Any]) -> dict[str, Any]:
    filename = check_filename("filename", fields["filename"])
    title = check_title(fields["title"]) if "title" in fields else filename[:200]
    return {
        "p_filename": filename,
        "p_title": title,
        "p_description": fields.get("description"),
        "p_visibility": fields.get("visibility"),
    }


def _direct(caller: Caller, fields: dict[str, Any], data: bytes) -> Response:
    map_id = str(uuid.uuid4())
    doc = create_row(
        caller, map_id, _common(fields), len(data), hashlib.sha256(data).hexdigest(), True
    )
    try:
        storage.put_bytes(storage.original_key(map_id), data)
    except Exception as exc:
        # Nothing stored: take the row back so the upload can simply be retried.
        logs.log("direct_upload_store_failed", "error", map_id=map_id, error=type(exc).__name__)
        db.call("api.delete_map", **caller_args(caller), p_id=map_id)
        raise errors.unavailable("Storage is unavailable; the upload was not kept. Retry.") from exc
    logs.log("map_uploaded", map_id=map_id, size=len(data), form="direct")
    return json_response({"map": doc}, 201, {"Location": f"/v1/maps/{map_id}"})


def _presigned(caller: Caller, body: dict[str, Any]) -> Response:
    fields = check_fields(body, _PRESIGNED)
    settings = get_settings()
    if fields["size"] > settings.max_upload_bytes:
        raise errors.too_large(f"size: uploads are limited to {settings.max_upload_bytes} bytes.")
    sha256 = fields.get("sha256")
    if sha256 is not None and not SHA256.match(sha256):
        raise errors.invalid("sha256: must be 64 hexadecimal characters.")
    if fields.get("multipart") or fields["size"] > settings.multipart_threshold_bytes:
        return multipart.create(caller, fields, _common(fields), sha256)
    map_id = str(uuid.uuid4())
    doc = create_row(
        caller, map_id, _common(fields), fields["size"], sha256.lower() if sha256 else None, False
    )
    ttl = settings.upload_url_ttl_seconds
    post = storage.presigned_post(storage.original_key(map_id), fields["size"], ttl)
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl)
    upload = {
        "method": "POST",
        "url": post["url"],
        "fields": post["fields"],
        "expires_at": expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    logs.log("map_created", map_id=map_id, size=fields["size"], form="presigned")
    return json_response({"map": doc, "upload": upload}, 201, {"Location": f"/v1/maps/{map_id}"})
