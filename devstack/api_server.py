"""`chalice local`, with these differences: a path no route matches answers 404 in the contract's
error shape, as the deployed API does (its gateway responses are set by the deploy), instead
of API Gateway's default 403 "Missing Authentication Token" (a browser navigating there gets
the web app's shell with that 404, to show its own "Page not found"); the listening socket's backlog
holds a burst of connections (socketserver's default of 5 resets the sixth client of a burst:
a browser opening the web app, or a parallel upload, would see "connection reset");
responses are gzipped for clients that accept it, as API Gateway does with config.json's
minimum_compression_size (the web app's scripts are sent as text and compressed there); a
HEAD answer carries no body (chalice local would write one, which a keep-alive client then
reads as the start of its next response); its connections send without Nagle's delay
(chalice writes a response's headers and body in two writes: the body waited for the
client's delayed ACK, 40 ms on every request); and a chunked request body
(Transfer-Encoding: chunked, which curl sends for `-T -` or when told to) is decoded, as API
Gateway does before it hands Lambda the whole body, where chalice reads only Content-Length
bytes and so handed the app an empty body; never past the largest body the app takes (a
direct upload's limit plus its form's overhead, or a multipart completion listing 10,000
parts, whichever is larger): beyond it, 413 in the contract's error shape, without buffering
the rest; and a request line in raw UTF-8 (`curl "…?q=地図"`) is read as UTF-8, as API Gateway
reads it, where http.server reads it as Latin-1."""

from __future__ import annotations

import functools
import gzip
import json
import re
import sys
import urllib.parse
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


class Refused(local.LocalGatewayException):
    """A request refused before the app sees it, in the contract's error shape: a chunked
    body over the limit (413), not valid chunked coding or a request line not in UTF-8 (400)."""

    def __init__(self, code: int, message: str) -> None:
        self.CODE = code
        request_id = uuid.uuid4().hex
        body = {"code": _ERROR_CODES[code], "message": message, "request_id": request_id}
        headers = {
            "Content-Type": "application/json",
            "X-Request-Id": request_id,
            "X-Content-Type-Options": "nosniff",
            "Connection": "close",
        }
        super().__init__(headers, json.dumps(body).encode())


_ERROR_CODES = {400: "invalid_request", 413: "too_large"}
# The size line of a chunk ("1a2b;name=value"): RFC 9112 puts no limit on extensions, a server
# must; and on the trailer section's lines.
MAX_CHUNK_LINE = 4096
MAX_TRAILER_LINES = 100
FORM_OVERHEAD = 64 * 1024  # what chalicelib/web/routes/uploads.py allows a form beyond the file


def body_limit() -> int:
    """The largest request body any route takes: a direct upload with its form's overhead, or
    a multipart completion (MAX_DIRECT_UPLOAD_BYTES may be set below it)."""
    from chalicelib.config import get_settings
    from chalicelib.web.request import MAX_COMPLETE_JSON_BYTES

    return max(get_settings().max_direct_upload_bytes + FORM_OVERHEAD, MAX_COMPLETE_JSON_BYTES)


def _line(rfile: Any) -> bytes:
    line = rfile.readline(MAX_CHUNK_LINE + 1)
    if len(line) > MAX_CHUNK_LINE or not line.endswith(b"\n"):
        raise Refused(400, "The chunked request body is malformed.")
    return line.rstrip(b"\r\n")


def read_chunked(rfile: Any, limit: int) -> bytes:
    """The body of a chunked request (RFC 9112 section 7.1), trailers read and dropped; raises
    Refused 413 as soon as it would pass `limit` bytes, 400 for malformed coding."""
    parts: list[bytes] = []
    total = 0
    while True:
        size_text = _line(rfile).split(b";", 1)[0].strip()
        if (
            not size_text
            or len(size_text) > 16
            or not all(c in b"0123456789abcdefABCDEF" for c in size_text)
        ):
            raise Refused(400, "The chunked request body is malformed.")
        size = int(size_text, 16)
        if size == 0:
            break
        total += size
        if total > limit:
            raise Refused(413, f"Request bodies are limited to {limit} bytes.")
        chunk = rfile.read(size)
        if len(chunk) != size or _line(rfile) != b"":
            raise Refused(400, "The chunked request body is malformed.")
        parts.append(chunk)
    for _ in range(MAX_TRAILER_LINES):
        if _line(rfile) == b"":
            return b"".join(parts)
    raise Refused(400, "The chunked request body has too many trailer lines.")


def install_chunked_bodies(limit: int) -> None:
    """Decode chunked request bodies up to `limit` bytes (see the module docstring)."""
    handler = local.ChaliceRequestHandler
    original_parse = handler._parse_payload
    original_handle = handler._generic_handle

    def parse(self: Any) -> tuple[dict[str, Any], bytes | None]:
        codings = [c.strip().lower() for c in self.headers.get("Transfer-Encoding", "").split(",")]
        if codings[-1:] != ["chunked"]:
            return original_parse(self)  # type: ignore[no-any-return]
        body = read_chunked(self.rfile, limit)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "transfer-encoding"}
        headers["Content-Length"] = str(len(body))
        return headers, body or None

    def handle(self: Any) -> None:
        try:
            headers, body = parse(self)
        except Refused as exc:
            # The rest of the body is unread: the connection cannot carry another request.
            self.close_connection = True
            self._send_error_response(exc)
            return
        self._parse_payload = lambda: (headers, body)
        original_handle(self)

    handler._parse_payload = parse  # type: ignore[method-assign]
    for method in ("GET", "PUT", "POST", "HEAD", "DELETE", "PATCH", "OPTIONS"):
        setattr(handler, f"do_{method}", handle)


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


def send_head_response(handler: Any, code: int, headers: dict[str, Any]) -> None:
    """A HEAD answer: status and headers (the app's Content-Length, the GET body's), no body."""
    handler.send_response(code)
    headers = dict(headers)
    handler.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
    handler._send_headers(headers)


def utf8_target(target: str) -> str:
    """The request's path and query as API Gateway reads them: as UTF-8. http.server decodes
    the request line as Latin-1, so raw UTF-8 (curl sends `?q=地図` as typed) reached the app
    as other characters; its bytes are percent-encoded instead, which chalice decodes as
    UTF-8. Raises Refused 400 for bytes that are not UTF-8."""
    if target.isascii():
        return target
    raw = target.encode("latin-1")  # the bytes that came, as http.server decoded each one
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(
            400, "The request's path or query is not UTF-8: percent-encode it as UTF-8."
        ) from None
    return urllib.parse.quote(raw, safe=_VISIBLE_ASCII)


_VISIBLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))  # kept as sent, % escapes too


def install() -> None:
    """Patch chalice's local gateway so unmatched paths are contract-shaped 404s (a browser
    navigating gets the web app's shell, whose router shows its "Page not found" view) and
    HEAD answers have no body."""
    original = local.LocalGateway.handle_request
    send_response = local.ChaliceRequestHandler._send_http_response

    def send(self: Any, code: int, headers: dict[str, Any], body: Any) -> None:
        if self.command == "HEAD":
            send_head_response(self, code, headers)
        else:
            send_response(self, code, headers, body)

    def handle_request(self: Any, method: str, path: str, headers: Any, body: Any) -> Any:
        path = utf8_target(path)
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
    local.ChaliceRequestHandler._send_http_response = send  # type: ignore[method-assign]
    local.ThreadedHTTPServer.request_queue_size = LISTEN_BACKLOG
    local.ChaliceRequestHandler.disable_nagle_algorithm = True


if __name__ == "__main__":
    install()
    install_compression(minimum_compression_size())
    install_chunked_bodies(body_limit())
    sys.argv = ["chalice", "local", *sys.argv[1:]]  # click reads the command line
    sys.exit(chalice_main())
