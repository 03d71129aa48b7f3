"""The STAC API 1.0 at /stac: landing page, conformance, collections, items, item search.

Read-only, over api.stac_* (one round trip a request); the same visibility as GET /v1/maps.
"""

from __future__ import annotations

import json
from typing import Any

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib import db, errors
from chalicelib.auth import Caller
from chalicelib.web.caller import caller_args, current_caller
from chalicelib.web.fields import parse_map_id
from chalicelib.web.request import json_body, query_params
from chalicelib.web.routes.maps import decode_cursor, encode_cursor
from chalicelib.web.stac import documents, params
from chalicelib.web.stac.urls import api_root

bp = Blueprint(__name__)


def _json(body: Any, media_type: str = documents.JSON) -> Response:
    return Response(
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=200,
        headers={"Content-Type": media_type},
    )


def _caller(request: Request) -> Caller | None:
    """The caller; raises ApiError 401 for a bad token even where the answer is public."""
    return current_caller(request)


def _collection_id(cid: str) -> str:
    if cid not in documents.COLLECTIONS:
        raise errors.not_found("Collection not found.")
    return cid


@bp.route("/stac", methods=["GET"])
def landing() -> Response:
    """The landing page."""
    request = bp.current_request
    _caller(request)
    query_params(request, ())
    return _json(documents.landing(api_root(request)))


@bp.route("/stac/conformance", methods=["GET"])
def conformance() -> Response:
    """The conformance classes this API implements."""
    request = bp.current_request
    _caller(request)
    query_params(request, ())
    return _json(documents.conformance())


@bp.route("/stac/api", methods=["GET"])
def service_desc() -> Response:
    """The OpenAPI 3.0 description of the STAC API (the landing page's service-desc)."""
    from chalicelib.web.openapi.stac import document

    request = bp.current_request
    query_params(request, ())
    return _json(document(api_root(request)), documents.OPENAPI)


@bp.route("/stac/api.html", methods=["GET"])
def service_doc() -> Response:
    """A human-readable page of the same description (the landing page's service-doc)."""
    from chalicelib.web.openapi.stac import html_page

    request = bp.current_request
    query_params(request, ())
    return Response(
        body=html_page(api_root(request)),
        status_code=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


def _extents(caller: Caller | None, formats: list[str]) -> dict[str, Any]:
    """Each collection's extent over the items the caller may see (one round trip)."""
    found: dict[str, Any] = db.call(
        "api.stac_extents", retry=True, **caller_args(caller), p_formats=formats
    )
    return found


@bp.route("/stac/collections", methods=["GET"])
def collections() -> Response:
    """Every collection, with the extent of the items the caller may see."""
    request = bp.current_request
    caller = _caller(request)
    query_params(request, ())
    extents = _extents(caller, list(documents.COLLECTIONS))
    return _json(documents.collections(api_root(request), extents))


@bp.route("/stac/collections/{collection_id}", methods=["GET"])
def collection(collection_id: str) -> Response:
    """One collection; 404 for an unknown one."""
    request = bp.current_request
    caller = _caller(request)
    query_params(request, ())
    cid = _collection_id(collection_id)
    return _json(documents.collection(api_root(request), cid, _extents(caller, [cid])))


@bp.route("/stac/collections/{collection_id}/items", methods=["GET"])
def collection_items(collection_id: str) -> Response:
    """A page of one collection's items the caller may see, newest first."""
    request = bp.current_request
    caller = _caller(request)
    cid = _collection_id(collection_id)
    search = params.from_query(query_params(request), params.ITEMS_PARAMS)
    root = api_root(request)
    href = f"{root}/stac/collections/{cid}/items"
    # `collections` narrows the path's collection (params.ITEMS_PARAMS says why it is here).
    within = [cid] if search.collections is None or cid in search.collections else []
    return _page(caller, root, search, within, href, post=False)


@bp.route("/stac/collections/{collection_id}/items/{item_id}", methods=["GET"])
def collection_item(collection_id: str, item_id: str) -> Response:
    """One item; 404 for missing and not allowed alike."""
    request = bp.current_request
    caller = _caller(request)
    cid = _collection_id(collection_id)
    try:
        map_id = parse_map_id(item_id)
    except errors.ApiError:
        raise errors.not_found("Item not found.") from None
    query_params(request, ())
    doc = db.call("api.stac_item", retry=True, **caller_args(caller), p_collection=cid, p_id=map_id)
    return _json(documents.item(api_root(request), doc), documents.GEOJSON)


@bp.route("/stac/search", methods=["GET"])
def search_get() -> Response:
    """Item search with query parameters."""
    request = bp.current_request
    caller = _caller(request)
    search = params.from_query(query_params(request))
    root = api_root(request)
    return _page(caller, root, search, search.collections, f"{root}/stac/search", post=False)


@bp.route("/stac/search", methods=["POST"], content_types=["application/json"])
def search_post() -> Response:
    """Item search with a JSON body."""
    request = bp.current_request
    caller = _caller(request)
    query_params(request, ())
    search = params.from_body(json_body(request))
    root = api_root(request)
    return _page(caller, root, search, search.collections, f"{root}/stac/search", post=True)


def _page(
    caller: Caller | None,
    root: str,
    search: params.Search,
    collections: list[str] | None,
    href: str,
    *,
    post: bool,
) -> Response:
    """One page through api.stac_search, with self and next links."""
    after_created, after_id = decode_cursor(search.cursor)
    page = db.call(
        "api.stac_search",
        retry=True,
        **caller_args(caller),
        **{**search.db_args(), "p_collections": collections},
        p_after_created=after_created,
        p_after_id=after_id,
    )
    cursor = encode_cursor(page["next"]) if page["next"] else None
    next_href = next_body = None
    if cursor is not None:
        if post:
            next_href, next_body = href, {**search.echo, "cursor": cursor}
        else:
            next_href = documents.query_href(href, {**search.echo, "cursor": cursor})
    self_href = href if post else documents.query_href(href, {**search.echo, **_cursor(search)})
    links = documents.page_links(f"{root}/stac", self_href, next_href, next_body)
    return _json(documents.item_collection(root, page["items"], links), documents.GEOJSON)


def _cursor(search: params.Search) -> dict[str, str]:
    return {"cursor": search.cursor} if search.cursor else {}
