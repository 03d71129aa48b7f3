"""GET /v1/health and GET /v1/openapi.json."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import db, errors
from chalicelib.web.envelope import json_response

bp = Blueprint(__name__)


@bp.route("/health", methods=["GET"])
def health() -> Response:
    """200 when the database answers, else 503."""
    try:
        db.call("api.health", retry=True)
    except errors.ApiError as exc:
        if exc.status == 503:
            raise
        raise errors.unavailable() from exc
    return json_response({"status": "ok"})


@bp.route("/openapi.json", methods=["GET"])
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API."""
    from chalicelib.web.openapi.build import document

    return json_response(document())
