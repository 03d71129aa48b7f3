"""The ApiError family, the one list of error codes, and the one table that turns SQLSTATEs
into HTTP errors."""

from __future__ import annotations

from chalice import ChaliceUnhandledError

# Every `code` a client can receive, with its HTTP status (each code has exactly one). The
# OpenAPI document's Error schema lists these; tests/functional/test_rules.py checks that the
# code raises no other.
CODES: dict[str, int] = {
    "invalid_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "subscription_inactive": 403,
    "quota_exceeded": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_ready": 409,
    "conflict": 409,
    "too_large": 413,
    "unsupported_media_type": 415,
    "too_many_requests": 429,
    "internal": 500,
    "unavailable": 503,
}


class ApiError(ChaliceUnhandledError):
    """An error that reaches the client as {"code","message","request_id"} with `status`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def invalid(message: str) -> ApiError:
    """400 invalid_request; the message names the offending field."""
    return ApiError(400, "invalid_request", message)


def unauthorized(message: str = "Authentication required or token invalid.") -> ApiError:
    return ApiError(401, "unauthorized", message)


def not_found(message: str = "Not found.") -> ApiError:
    return ApiError(404, "not_found", message)


def conflict(message: str) -> ApiError:
    return ApiError(409, "conflict", message)


def too_large(message: str) -> ApiError:
    return ApiError(413, "too_large", message)


def unsupported_media_type(message: str) -> ApiError:
    return ApiError(415, "unsupported_media_type", message)


def unavailable(message: str = "Service temporarily unavailable, retry shortly.") -> ApiError:
    return ApiError(503, "unavailable", message, {"Retry-After": "1"})


# Stored functions raise these SQLSTATEs (class "MS" is ours); standard classes follow PostgREST.
SQLSTATE_ERRORS: dict[str, str] = {
    "MS400": "invalid_request",
    "MS401": "unauthorized",
    "MS403": "forbidden",
    "MSSUB": "subscription_inactive",
    "MSQTA": "quota_exceeded",
    "MS404": "not_found",
    "MSNRD": "not_ready",
    "MS409": "conflict",
    "MS413": "too_large",
    "23505": "conflict",
    "23514": "invalid_request",
    "22001": "invalid_request",
    "22P02": "invalid_request",
    "22007": "invalid_request",
    "22008": "invalid_request",
    "42501": "forbidden",
    "57014": "unavailable",
}


GENERIC_MESSAGES = {
    "conflict": "The request conflicts with the current state.",
    "invalid_request": "A value is out of range or malformed.",
    "forbidden": "Not allowed.",
}


def from_sqlstate(sqlstate: str, message: str) -> ApiError | None:
    """The ApiError for a SQLSTATE, or None when it is not a client's fault (a bug: 500)."""
    if sqlstate in SQLSTATE_ERRORS:
        code = SQLSTATE_ERRORS[sqlstate]
        if not sqlstate.startswith("MS"):
            # Standard errors' texts name tables and constraints: not for clients.
            message = GENERIC_MESSAGES.get(code, message)
        return ApiError(CODES[code], code, message)
    if sqlstate.startswith(("08", "53", "57P")):
        return unavailable()
    return None
