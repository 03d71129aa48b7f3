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
from chalicelib.rules import TITLE_MAX_LENGTH
from chalicelib.web import forms
from chalicelib.web.caller import caller_args, current_caller
from chalicelib.web.envelope import json_response
from chalicelib.web.fields import check_fields, check_text
from chalicelib.web.inputs import DIRECT_UPLOAD, MAP_CHANGE, PRESIGNED_UPLOAD
from chalicelib.web.map_rows import create_row
from chalicelib.web.request import json_body, media_type, query_params, raw_body
from chalicelib.web.routes import multipart

bp = Blueprint(__name__)


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
        fields = check_fields(query_params(request), DIRECT_UPLOAD, "query ")
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
        elif part.name in MAP_CHANGE:
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
    return check_fields(fields, DIRECT_UPLOAD), data


def _common(fields: dict[str, Any]) -> dict[str, Any]:
    """api.create_map's descriptive arguments from checked fields (the title defaults to the
    file name)."""
    filename = fields["filename"]
    title = fields["title"] if "title" in fields else filename[:TITLE_MAX_LENGTH]
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
    fields = check_fields(body, PRESIGNED_UPLOAD)
    settings = get_settings()
    if fields["size"] > settings.max_upload_bytes:
        raise errors.too_large(f"size: uploads are limited to {settings.max_upload_bytes} bytes.")
    sha256 = fields.get("sha256")
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
