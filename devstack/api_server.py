"""`chalice local`, with two differences: a path no route matches answers 404 in the contract's
error shape, as the deployed API does (its gateway responses are set by the deploy), instead
of API Gateway's default 403 "Missing Authentication Token"; and the listening socket's backlog
holds a burst of connections (socketserver's default of 5 resets the sixth client of a burst:
a browser opening the web app, or a parallel upload, would see "connection reset"); and its
connections send without Nagle's delay (chalice writes a response's headers and body in two
writes: the body waited for the client's delayed ACK, 40 ms on every request)."""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

from chalice import local
from chalice.cli import main as chalice_main

LISTEN_BACKLOG = 1024


class RouteNotFound(local.LocalGatewayException):
    CODE = 404


def _not_found(request_id: str) -> bytes:
    return json.dumps(
        {"code": "not_found", "message": "No such route.", "request_id": request_id}
    ).encode()


def install() -> None:
    """Patch chalice's local gateway so unmatched paths are contract-shaped 404s."""
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
    sys.argv = ["chalice", "local", *sys.argv[1:]]  # click reads the command line
    sys.exit(chalice_main())
