"""`chalice local`, with four differences: a path no route matches answers 404 in the contract's
error shape, as the deployed API does (its gateway responses are set by the deploy), instead
of API Gateway's default 403 "Missing Authentication Token" (a browser navigating there gets
the web app's shell with that 404, to show its own "Page not found"); the listening socket's backlog
holds a burst of connections (socketserver's default of 5 resets the sixth client of a burst:
a browser opening the web app, or a parallel upload, would see "connection reset");
responses are gzipped for clients that accept it, as API Gateway does with config.json's
minimum_compression_size (the web app's scripts are sent as text and compressed there); and
its connections send without Nagle's delay (chalice writes a response's headers and body in
two writes: the body waited for the client's delayed ACK, 40 ms on every request)."""

from __future__ import annotations

import functools
import gzip
import json
import re
import sys
import uuid
from pathlib import Path
from typing import Any

from chalice import local
from chalice.cli import main as chalice_main

from chalicelib.web.routes import site

LISTEN_BACKLOG = 1024
CONFIG = Path(__file__).resolve().parent.parent / ".chalice" / "config.json"
_GZIP = re.compile(r"(?:^|,)\s*gzip\s*(?:;\s*q\s*=\s*(?P<q>[0-9.]+))?\s*(?:,|$)", re.IGNORECASE)


class RouteNotFound(local.LocalGatewayException):
    CODE = 404


def _not_found(request_id: str) -> bytes:
    return json.dumps(
        {"code": "not_found", "message": "No such route.", "request_id": request_id}
    ).encode()


def minimum_compression_size(stage: str = "local") -> int | None:
    """config.json's minimum_compression_size (the stage's, else the top level's), or None."""
    doc = json.loads(CONFIG.read_text())
    value = doc.get("stages", {}).get(stage, {}).get("minimum_compression_size")
    value = doc.get("minimum_compression_size") if value is None else value
    return None if value is None else int(value)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header takes gzip (not with q=0)."""
    match = _GZIP.search(accept_encoding or "")
    return bool(match) and float(match.group("q") or 1) > 0


@functools.lru_cache(maxsize=32)
def _compressed(body: bytes) -> bytes:
    # The same few large assets go out again and again (a fresh browser each test): once each.
    return gzip.compress(body, compresslevel=6, mtime=0)


def install_compression(minimum: int | None) -> None:
    """Gzip bodies of at least `minimum` bytes for clients that accept it (None: never)."""
    if minimum is None:
        return
    original = local.ChaliceRequestHandler._send_http_response_with_body

    def send(self: Any, code: int, headers: dict[str, Any], body: str | bytes) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        encoded = any(k.lower() == "content-encoding" for k in headers)
        if (
            len(data) >= minimum
            and not encoded
            and accepts_gzip(self.headers.get("Accept-Encoding"))
        ):
            data = _compressed(data) if len(data) >= 64 * 1024 else gzip.compress(data, 6, mtime=0)
            headers = {**headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        original(self, code, headers, data)

    local.ChaliceRequestHandler._send_http_response_with_body = send  # type: ignore[method-assign]


def install() -> None:
    """Patch chalice's local gateway so unmatched paths are contract-shaped 404s (a browser
    navigating gets the web app's shell, whose router shows its "Page not found" view)."""
    original = local.LocalGateway.handle_request

    def handle_request(self: Any, method: str, path: str, headers: Any, body: Any) -> Any:
        try:
            return original(self, method, path, headers, body)
        except local.ForbiddenError as exc:
            if b"Missing Authentication Token" not in (exc.body or b"") and b"Credential" not in (
                exc.body or b""
            ):
                raise
            request_id = uuid.uuid4().hex
            accept = headers.get("accept") or headers.get("Accept") or ""
            if site.is_page_navigation(method, path, accept):
                page_headers, page = site.not_found_page(method, path)
                raise RouteNotFound({**page_headers, "X-Request-Id": request_id}, page) from None
            raise RouteNotFound(
                {
                    "Content-Type": "application/json",
                    "X-Request-Id": request_id,
                    "X-Content-Type-Options": "nosniff",
                },
                _not_found(request_id),
            ) from None

    local.LocalGateway.handle_request = handle_request  # type: ignore[method-assign]
    local.ThreadedHTTPServer.request_queue_size = LISTEN_BACKLOG
    local.ChaliceRequestHandler.disable_nagle_algorithm = True


if __name__ == "__main__":
    install()
    install_compression(minimum_compression_size())
    sys.argv = ["chalice", "local", *sys.argv[1:]]  # click reads the command line
    sys.exit(chalice_main())
