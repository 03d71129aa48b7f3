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
from chalicelib.web.envelope import json_response
from chalicelib.web.fields import (
    FORMATS,
    STATUSES,
    VISIBILITIES,
    Field,
    check_fields,
    check_text,
    check_title,
    parse_datetime,
    parse_int,
    parse_map_id,
)
from chalicelib.web.request import json_body, json_depth, query_params

bp = Blueprint(__name__)

_BROWSE = {"limit", "cursor", "q", "format", "visibility", "owner", "status", "bbox"}
_PATCH = {
    "title": Field("str", max_length=200),
    "description": Field("text", max_length=5000),
    "visibility": Field("choice", choices=VISIBILITIES),
}
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
_CURSOR_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# What the OpenAPI document's bbox pattern allows, as a number: ASCII, no exponent, no "_",
# no spaces (float() would take fullwidth digits, "1_0" and " 1").
_COORDINATE = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _choice(name: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise errors.invalid(f"{name}: must be one of {', '.join(choices)}.")
    return value


def _limit(value: str | None) -> int:
    return 20 if value is None else parse_int("limit", value, 1, 100)


def _bbox(value: str | None) -> list[float] | None:
    if value is None:
        return None
    parts = value.split(",")
    box = [float(v) for v in parts] if all(_COORDINATE.fullmatch(v) for v in parts) else []
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        raise errors.invalid("bbox: must be minx,miny,maxx,maxy (four numbers).")
    minx, miny, maxx, maxy = box
    if minx > maxx or miny > maxy:
        raise errors.invalid("bbox: min must not exceed max.")
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
    query = {k: check_text(k, v, 500) for k, v in query_params(request, _BROWSE).items()}
    owner = query.get("owner")
    if owner is not None and owner != "me" and not _USERNAME.match(owner):
        raise errors.invalid("owner: must be 'me' or a username.")
    after_created, after_id = decode_cursor(query.get("cursor"))
    page = db.call(
        "api.browse_maps",
        retry=True,
        **caller_args(caller),
        p_limit=_limit(query.get("limit")),
        p_after_created=after_created,
        p_after_id=after_id,
        p_q=query.get("q") or None,
        p_format=_choice("format", query.get("format"), FORMATS),
        p_visibility=_choice("visibility", query.get("visibility"), VISIBILITIES),
        p_owner=owner,
        p_status=_choice("status", query.get("status"), STATUSES),
        p_bbox=_bbox(query.get("bbox")),
    )
    next_cursor = encode_cursor(page["next"]) if page["next"] else None
    return json_response({"items": page["items"], "next_cursor": next_cursor})


@bp.route("/maps/{map_id}", methods=["GET"])
def get_map(map_id: str) -> Response:
    """A map the caller may see; 404 for missing and not allowed alike."""
    caller = current_caller(bp.current_request)
    doc = db.call("api.get_map", retry=True, **caller_args(caller), p_id=parse_map_id(map_id))
    return json_response(doc)


def _redirect(params: dict[str, str]) -> bool:
    """Whether to answer with a 302 (?redirect=true, the default) or the URL as JSON; raises
    ApiError 400 for any other value."""
    redirect = params.get("redirect", "true")
    if redirect not in ("true", "false"):
        raise errors.invalid("redirect: must be true or false.")
    return redirect == "true"


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
    """302 to a short-lived URL (or the URL as JSON with ?redirect=false)."""
    request = bp.current_request
    caller = current_caller(request)
    params = query_params(request, ("redirect", "variant"))
    redirect = _redirect(params)
    variant = params.get("variant")
    if variant not in (None, "original", "optimized"):
        raise errors.invalid("variant: must be original or optimized.")
    target = db.call(
        "api.record_download", **caller_args(caller), p_id=parse_map_id(map_id), p_variant=variant
    )
    ttl = get_settings().download_url_ttl_seconds
    url = storage.presigned_get(
        target["object_key"],
        target["filename"],
        target["media_type"],
        ttl,
        target.get("content_encoding"),
        target.get("version"),
    )
    logs.log("map_download", map_id=map_id, variant=target["variant"])
    return _short_lived(url, ttl, redirect)


@bp.route("/maps/{map_id}/preview", methods=["GET"])
def preview_map(map_id: str) -> Response:
    """302 to a short-lived URL of the map's preview image (JSON with ?redirect=false); the
    map's visibility; 404 when it has none."""
    request = bp.current_request
    caller = current_caller(request)
    redirect = _redirect(query_params(request, ("redirect",)))
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
    doc = check_fields(json_body(request), _PATCH)
    if not doc:
        raise errors.invalid("body: give at least one of title, description, visibility.")
    updated = db.call(
        "api.update_map",
        retry=True,
        **caller_args(caller),
        p_id=map_id,
        p_title=check_title(doc["title"]) if "title" in doc else None,
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
