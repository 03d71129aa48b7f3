"""The ApiError family and the one table that turns SQLSTATEs into HTTP errors."""

from __future__ import annotations

from chalice import ChaliceUnhandledError


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
SQLSTATE_ERRORS: dict[str, tuple[int, str]] = {
    "MS400": (400, "invalid_request"),
    "MS401": (401, "unauthorized"),
    "MS403": (403, "forbidden"),
    "MSSUB": (403, "subscription_inactive"),
    "MSQTA": (403, "quota_exceeded"),
    "MS404": (404, "not_found"),
    "MSNRD": (409, "not_ready"),
    "MS409": (409, "conflict"),
    "MS413": (413, "too_large"),
    "23505": (409, "conflict"),
    "23514": (400, "invalid_request"),
    "22001": (400, "invalid_request"),
    "22P02": (400, "invalid_request"),
    "22007": (400, "invalid_request"),
    "22008": (400, "invalid_request"),
    "42501": (403, "forbidden"),
    "57014": (503, "unavailable"),
}


GENERIC_MESSAGES = {
    "conflict": "The request conflicts with the current state.",
    "invalid_request": "A value is out of range or malformed.",
    "forbidden": "Not allowed.",
}


def from_sqlstate(sqlstate: str, message: str) -> ApiError | None:
    """The ApiError for a SQLSTATE, or None when it is not a client's fault (a bug: 500)."""
    if sqlstate in SQLSTATE_ERRORS:
        status, code = SQLSTATE_ERRORS[sqlstate]
        if not sqlstate.startswith("MS"):
            # Standard errors' texts name tables and constraints: not for clients.
            message = GENERIC_MESSAGES.get(code, message)
        return ApiError(status, code, message)
    if sqlstate.startswith(("08", "53", "57P")):
        return unavailable()
    return None
