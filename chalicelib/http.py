"""The HTTP envelope: request ids, the contract's error shape, security headers, access logs."""

from __future__ import annotations

import functools
import itertools
import json
import re
import time
import traceback
import uuid
from collections.abc import Callable, Collection
from typing import Any

from chalice import Chalice, ChaliceUnhandledError, Response
from chalice.app import Request

from chalicelib import db, errors, logs
from chalicelib.auth import Caller, caller_from_header
from chalicelib.validation import check_text

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
# Chalice answers some requests itself (unknown method, unsupported media type): same shape.
_CHALICE_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}
MAX_JSON_BYTES = 64 * 1024
# Request bodies are flat objects; json.loads recurses once per level and a 64 KiB body holds
# 32768 of them, so depth is measured first (without recursion) and capped far below Python's
# recursion limit.
MAX_JSON_DEPTH = 32
# A JSON string, or the rest of the text after an unterminated one: one forward pass, no
# backtracking, so stripping strings stays linear whatever the body.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1, +1, -1, -1 as int8
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


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
        response.headers["X-Request-Id"] = rid
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "no-store")
        logs.log(
            "http_request",
            method=request.method,
            path=request.context.get("resourcePath") if request.context else None,
            status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 1),
            db_round_trips=db.round_trips.get(),
        )
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


def current_caller(request: Request) -> Caller | None:
    """The caller of this request (None for a guest); raises ApiError 401 for a bad token."""
    return caller_from_header(request.headers.get("authorization"))


def client_ip(request: Request) -> str | None:
    """The client address API Gateway saw (never a client-supplied header)."""
    identity = (request.context or {}).get("identity") or {}
    source = identity.get("sourceIp")
    return str(source)[:64] if source else None


def caller_args(caller: Caller | None) -> dict[str, Any]:
    """The (p_caller, p_token_version) pair every api.* function takes."""
    if caller is None:
        return {"p_caller": None, "p_token_version": None}
    return {"p_caller": caller.user_id, "p_token_version": caller.token_version}


def media_type(request: Request) -> str:
    """The request's media type, lower-case, without parameters ('' when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def query_params(request: Request, allowed: Collection[str] | None = None) -> dict[str, str]:
    """The query string as {name: value}; raises ApiError 400 for a repeated parameter, or
    one not in `allowed` (when given)."""
    params: Any = request.query_params or {}
    clean: dict[str, str] = {}
    for name in params:
        if allowed is not None and name not in allowed:
            raise errors.invalid(f"{check_text('query', name, 64)}: unknown query parameter.")
        values = params.getlist(name)
        if len(values) != 1:
            raise errors.invalid(f"{name}: give it once.")
        clean[name] = values[0]
    return clean


def raw_body(request: Request) -> bytes:
    """The request body as bytes."""
    raw = request.raw_body or b""
    return raw.encode("utf-8") if isinstance(raw, str) else raw


def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; raises ApiError 415/413/400 for anything else."""
    if media_type(request) != "application/json":
        raise errors.unsupported_media_type("Send a JSON body with Content-Type: application/json.")
    raw = raw_body(request)
    if len(raw) > MAX_JSON_BYTES:
        raise errors.too_large(f"JSON bodies are limited to {MAX_JSON_BYTES} bytes.")
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and json_depth(raw) > MAX_JSON_DEPTH:
        raise errors.invalid(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels.")
    try:
        doc = json.loads(
            raw.decode("utf-8"),
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicate_keys,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise errors.invalid(f"body: not valid JSON ({_short(exc)}).") from None
    except RecursionError:  # not reached under MAX_JSON_DEPTH; kept should the cap ever grow
        raise errors.invalid(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels.") from None
    if not isinstance(doc, dict):
        raise errors.invalid("body: must be a JSON object.")
    return doc


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (0 for a scalar), in linear time and
    without recursion: strings are cut out, then the brackets summed in C. Raises nothing."""
    structure = _JSON_STRING.sub(b"", raw).translate(_BRACKET_STEPS, _NOT_BRACKETS)
    return max(itertools.accumulate(memoryview(structure).cast("b")), default=0)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise ValueError(f"duplicate key {key!r}")
        doc[key] = value
    return doc


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
