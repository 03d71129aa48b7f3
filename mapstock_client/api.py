"""The Map Stock API over HTTP: one httpx client, errors turned into one-line `code: message`."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx

from mapstock_client import __version__

# Connect fast, but allow a slow server (processing, a cold Lambda) to answer.
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
RETRIES = 4  # of idempotent calls, on network errors, 429 and 503


class ClientError(Exception):
    """A failure the CLI reports as one line and exits on (`exit_code`, 1 unless said)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code


class ApiError(ClientError):
    """The API answered with an error document: `code: message`, and the HTTP status."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.status, self.code = status, code


def map_path(map_id: str, *rest: str) -> str:
    """/v1/maps/{id}/…; raises ClientError for what is not a map id (as the API would: 404)."""
    try:
        canonical = str(uuid.UUID(map_id))
    except ValueError:
        raise ClientError("not_found: Map not found.") from None
    return "/".join(["/v1/maps", canonical, *rest])


def error_from(response: httpx.Response, base: str = "") -> ApiError:
    """The API's error document as an ApiError. Any other body is never shown: an HTML page
    means MAPSTOCK_API names something else, said with the URL and the status."""
    status = response.status_code
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        if isinstance(doc.get("code"), str):
            return ApiError(status, doc["code"], doc["message"])
        # API Gateway's own answers ({"message": "Internal server error"}): short, no code.
        return ApiError(status, f"http_{status}", doc["message"][:200])
    request = response.request
    where = base or str(request.url.copy_with(path="/", query=None)).rstrip("/")
    return ApiError(
        status,
        f"http_{status}",
        f"{where} does not answer like a Map Stock API ({request.method} {request.url.path}: "
        f"HTTP {status} {response.reason_phrase}); check MAPSTOCK_API",
    )


def joined(first: str, then: str) -> str:
    """`first; then`, without the full stop that ends `first` (not "expired.; log in")."""
    return f"{first.rstrip().rstrip('.')}; {then}"


def storage_problem(response: httpx.Response) -> str:
    """S3's answer in a few words (its error Code and Message), never the whole body."""
    text = response.text
    found = {
        tag: m.group(1).strip()
        for tag in ("Code", "Message")
        if (m := re.search(f"<{tag}>([^<]{{0,200}})</{tag}>", text))
    }
    said = ": ".join(found.values()) or response.reason_phrase
    return f"{response.status_code} {said}".rstrip()


class Api:
    """Calls to one API root, with the caller's token when there is one."""

    def __init__(self, base: str, token: str | None = None):
        headers = {"User-Agent": f"mapstock/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base = base
        self.http = httpx.Client(base_url=base, headers=headers, timeout=TIMEOUT)

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One API call; raises ApiError for an error answer, ClientError when unreachable.

        Idempotent calls (GET, DELETE by default) are retried on network errors, 429 and 503."""
        if idempotent is None:
            idempotent = method in ("GET", "DELETE", "PATCH")
        attempts = RETRIES if idempotent else 1
        for attempt in range(1, attempts + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise ClientError(f"unavailable: cannot reach {self.base}: {exc}") from None
                time.sleep(0.5 * 2**attempt)
                continue
            if response.status_code in (429, 503) and attempt < attempts:
                time.sleep(_retry_after(response, 0.5 * 2**attempt))
                continue
            if response.is_success:
                return response
            raise error_from(response, self.base)
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """call() and its JSON body."""
        return self.call(method, path, **kwargs).json()


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    return min(float(value), 60.0) if value.isdigit() else default
