"""Maps: browse, read, download, edit, delete."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re

from chalice import Blueprint, Response

from chalicelib import db, errors, logs, storage
from chalicelib.config import get_settings
from chalicelib.web.caller import caller_args, current_caller
from chalicelib.web.envelope import json_response, json_text_response
from chalicelib.web.fields import check_fields, parse_datetime, parse_map_id
from chalicelib.web.inputs import (
    BROWSE_LIMIT_DEFAULT,
    BROWSE_QUERY,
    DOWNLOAD_QUERY,
    MAP_CHANGE,
    PREVIEW_QUERY,
)
from chalicelib.web.request import json_body, json_depth, query_params

bp = Blueprint(__name__)

_CURSOR_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _bbox(value: str | None) -> list[float] | None:
    """Four numbers in WGS84 ranges, south before north; raises ApiError 400. A west edge east of
    the east edge crosses the antimeridian (RFC 7946 5.2: the form map bboxes and STAC use, so a
    map's own bbox can be sent back; app.query_boxes reads it so). (The Field's pattern let
    through only ASCII numbers without exponent: float() would take fullwidth digits.)"""
    if value is None:
        return None
    box = [float(v) for v in value.split(",")]
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        raise errors.invalid("bbox: must be minx,miny,maxx,maxy (four numbers).")
    minx, miny, maxx, maxy = box
    if miny > maxy:
        raise errors.invalid("bbox: miny (south) must not exceed maxy (north).")
    if not (
        -180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90
    ):
        raise errors.invalid("bbox: WGS84 longitudes -180..180 and latitudes -90..90.")
    return box


def encode_cursor(position: dict[str, str]) -> str:
    """An opaque cursor for the position after a page's last item."""
    raw = json.dumps([position["created_at"], position["id"]], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[dt.datetime | None, str | None]:
    """(created_at in UTC, id) from a cursor; raises ApiError 400 for a damaged one."""
    if cursor is None:
        return None, None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if json_depth(raw) != 1:  # a flat [time, id]
            raise ValueError(cursor)
        created_at, map_id = json.loads(raw)
        # Only times this API wrote (and PostgreSQL takes): a doctored one is a 400, not a 500.
        after = parse_datetime("cursor", created_at)
        if not _CURSOR_ID.match(map_id):
            raise ValueError(map_id)
    except (ValueError, TypeError, AttributeError, binascii.Error, errors.ApiError):
        raise errors.invalid("cursor: not a cursor from next_cursor.") from None
    return after, map_id


@bp.route("/maps", methods=["GET"])
def browse_maps() -> Response:
    """One page of the maps the caller may see, newest first."""
    request = bp.current_request
    caller = current_caller(request)
    query = check_fields(query_params(request, BROWSE_QUERY), BROWSE_QUERY, text=True)
    after_created, after_id = decode_cursor(query.get("cursor"))
    page = db.call(
        "api.browse_maps",
        retry=True,
        **caller_args(caller),
        p_limit=query.get("limit", BROWSE_LIMIT_DEFAULT),
        p_after_created=after_created,
        p_after_id=after_id,
        p_q=query.get("q") or None,
        p_format=query.get("format"),
        p_visibility=query.get("visibility"),
        p_owner=query.get("owner"),
        p_status=query.get("status"),
        p_bbox=_bbox(query.get("bbox")),
    )
    next_cursor = encode_cursor(page["next"]) if page["next"] else None
    return json_response({"items": page["items"], "next_cursor": next_cursor})


@bp.route("/maps/{map_id}", methods=["GET"])
def get_map(map_id: str) -> Response:
    """A map the caller may see; 404 for missing and not allowed alike."""
    caller = current_caller(bp.current_request)
    doc = db.call(
        "api.get_map", retry=True, as_text=True, **caller_args(caller), p_id=parse_map_id(map_id)
    )
    return json_text_response(doc)


def _redirect(params: dict[str, str]) -> bool:
    """Whether to answer with a 302 (?redirect=true, the default) or the URL as JSON."""
    return params.get("redirect", "true") == "true"


def _short_lived(
    url: str, ttl: int, redirect: bool, headers: dict[str, str] | None = None
) -> Response:
    """A 302 to a presigned URL, or {url, expires_at} (downloads and previews alike)."""
    if redirect:
        return Response(body="", status_code=302, headers={"Location": url, **(headers or {})})
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl)
    doc = {"url": url, "expires_at": expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return json_response(doc, headers=headers)


@bp.route("/maps/{map_id}/download", methods=["GET"])
def download_map(map_id: str) -> Response:
    """302 to a short-lived URL (or the URL as JSON with ?redirect=false); HEAD answers the same
    without counting a download (nothing was downloaded)."""
    request = bp.current_request
    caller = current_caller(request)
    params = check_fields(query_params(request, DOWNLOAD_QUERY), DOWNLOAD_QUERY, text=True)
    redirect = _redirect(params)
    args = {**caller_args(caller), "p_id": parse_map_id(map_id), "p_variant": params.get("variant")}
    if request.method == "HEAD":
        target = db.call("api.download_target", retry=True, **args)
    else:
        target = db.call("api.record_download", **args)
    ttl = get_settings().download_url_ttl_seconds
    url = storage.presigned_get(
        target["object_key"],
        target["filename"],
        target["media_type"],
        ttl,
        target.get("content_encoding"),
        target.get("version"),
    )
    if request.method != "HEAD":
        logs.log("map_download", map_id=map_id, variant=target["variant"])
    return _short_lived(url, ttl, redirect)


@bp.route("/maps/{map_id}/preview", methods=["GET"])
def preview_map(map_id: str) -> Response:
    """302 to a short-lived URL of the map's preview image (JSON with ?redirect=false); the
    map's visibility; 404 when it has none."""
    request = bp.current_request
    caller = current_caller(request)
    query = check_fields(query_params(request, PREVIEW_QUERY), PREVIEW_QUERY, text=True)
    redirect = _redirect(query)
    target = db.call("api.preview_target", **caller_args(caller), p_id=parse_map_id(map_id))
    ttl = get_settings().download_url_ttl_seconds
    url = storage.presigned_image(target["object_key"], target["media_type"], ttl)
    # Cacheable by this browser for a little less than the URL lives: a list of thumbnails
    # does not ask again on every scroll, and never follows an expired URL.
    cache = {"Cache-Control": f"private, max-age={max(0, ttl - 60)}"}
    return _short_lived(url, ttl, redirect, cache)


@bp.route("/maps/{map_id}", methods=["PATCH"], content_types=["application/json"])
def update_map(map_id: str) -> Response:
    """Owner or admin: change title, description, visibility."""
    request = bp.current_request
    caller = current_caller(request)
    if caller is None:
        raise errors.unauthorized("Authentication required.")
    map_id = parse_map_id(map_id)
    doc = check_fields(json_body(request), MAP_CHANGE)
    if not doc:
        raise errors.invalid("body: give at least one of title, description, visibility.")
    updated = db.call(
        "api.update_map",
        retry=True,
        **caller_args(caller),
        p_id=map_id,
        p_title=doc.get("title"),
        p_description=doc.get("description"),
        p_visibility=doc.get("visibility"),
    )
    return json_response(updated)


@bp.route("/maps/{map_id}", methods=["DELETE"])
def delete_map(map_id: str) -> Response:
    """Owner or admin: delete the map and its stored objects."""
    caller = current_caller(bp.current_request)
    if caller is None:
        raise errors.unauthorized("Authentication required.")
    deleted = db.call("api.delete_map", **caller_args(caller), p_id=parse_map_id(map_id))
    try:
        storage.delete_map_objects(deleted["id"])
    except Exception as exc:
        # The row is gone, so nobody can reach the objects; the orphan sweep removes them.
        logs.log("delete_objects_failed", "warning", map_id=deleted["id"], error=type(exc).__name__)
    return Response(body="", status_code=204)
