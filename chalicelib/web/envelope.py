"""The HTTP envelope: request ids, the contract's error shape, security headers, access logs."""

from __future__ import annotations

import functools
import json
import re
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from chalice import Chalice, ChaliceUnhandledError, Response
from chalice.app import Request

from chalicelib import db, errors, logs
from chalicelib.web import cors
from chalicelib.web.caller import caller_args, current_caller

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
# Chalice answers some requests itself (unknown method, unsupported media type): same shape.
_CHALICE_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def json_text_response(text: str, status: int = 200) -> Response:
    """A JSON response whose body is JSON text already (a document as the database wrote it)."""
    return Response(body=text, status_code=status, headers={"Content-Type": "application/json"})


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The contract's error document."""
    body = {"code": code, "message": message, "request_id": logs.request_id.get()}
    return json_response(body, status, headers)


def _normalise(response: Response) -> Response:
    """Rewrite Chalice's own error bodies ({"Code","Message"} or a traceback) into ours: views
    never return errors (they raise ApiError), so every error response here is Chalice's."""
    status = response.status_code
    if status < 400:
        return response
    if status >= 500:
        return error_response(500, "internal", "Internal error; quote the request id to support.")
    message = "Request rejected."
    if isinstance(response.body, dict):
        message = str(response.body.get("Message", message))
    extra = {
        k: str(v) for k, v in response.headers.items() if k.lower() in ("allow", "retry-after")
    }
    return error_response(status, _CHALICE_CODES.get(status, "invalid_request"), message, extra)


class UnhandledViewError(ChaliceUnhandledError):
    """Carries an unexpected exception past Chalice's own handler to the envelope (logged there)."""


def _surface_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ChaliceUnhandledError:
            raise
        except Exception as exc:
            raise UnhandledViewError(type(exc).__name__) from exc

    return wrapper


def install(app: Chalice) -> None:
    """Register the envelope middleware; call after every blueprint is registered."""
    for methods in app.routes.values():
        for entry in methods.values():
            entry.view_function = _surface_errors(entry.view_function)
    # API Gateway passes these bodies through base64 as bytes instead of text.
    for content_type in ("multipart/form-data", "application/octet-stream"):
        if content_type not in app.api.binary_types:
            app.api.binary_types.append(content_type)

    @app.middleware("http")
    def envelope(request: Request, get_response: Any) -> Response:
        incoming = request.headers.get("x-request-id", "")
        rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        logs.request_id.set(rid)
        db.round_trips.set(0)
        started = time.perf_counter()
        try:
            response = _normalise(get_response(request))
        except errors.ApiError as exc:
            response = error_response(exc.status, exc.code, exc.message, exc.headers)
        except Exception as exc:
            cause = exc.__cause__ if isinstance(exc, UnhandledViewError) and exc.__cause__ else exc
            logs.log(
                "unhandled_exception",
                "error",
                error=type(cause).__name__,
                trace="".join(traceback.format_exception(cause, limit=20)),
            )
            response = error_response(
                500, "internal", "Internal error; quote the request id to support."
            )
        if 400 <= response.status_code < 500 and response.status_code != 401:
            try:
                _revoked_token_first(request)
            except errors.ApiError as exc:
                if exc.status == 401:  # anything else (say, 503) leaves the first answer
                    response = error_response(exc.status, exc.code, exc.message, exc.headers)
        resource = request.context.get("resourcePath") if request.context else None
        response.headers.update(cors.response_headers(resource, request.method))
        response.headers["X-Request-Id"] = rid
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "no-store")
        if request.method == "HEAD":
            response = _without_body(response)
        logs.log(
            "http_request",
            method=request.method,
            path=resource,
            status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 1),
            db_round_trips=db.round_trips.get(),
        )
        return response


def _without_body(response: Response) -> Response:
    """The answer to HEAD: GET's status and headers, no body; Content-Length is the GET body's
    (the gateways would otherwise say 0), 0 for an empty one (a 302) as GET's says. Raises
    nothing."""
    body = response.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    if isinstance(body, bytes):
        response.headers["Content-Length"] = str(len(body))
    response.body = ""
    return response


def _revoked_token_first(request: Request) -> None:
    """A request that failed before reaching the database never checked its token's version:
    a revoked token must still answer 401, not the other error (one extra round trip, on this
    error path only). Raises ApiError 401."""
    try:
        caller = current_caller(request)
    except errors.ApiError:
        return  # a malformed token was already answered 401 where it mattered
    if caller is not None and db.round_trips.get() == 0:
        db.call("api.check_caller", retry=True, **caller_args(caller))
