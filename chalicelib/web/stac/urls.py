"""The API's public root URL for a request: scheme, host and stage prefix, for absolute links."""

from __future__ import annotations

import re

from chalice.app import Request

from chalicelib import errors

# hostname[:port] or [IPv6]:port. Only ever echoed into links: never used to route or authorise.
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$",
    re.ASCII,
)
_PREFIX = re.compile(r"^(?:/[A-Za-z0-9._~-]+){0,8}$", re.ASCII)


def api_root(request: Request) -> str:
    """`scheme://host[:port][/stage]` of the API as this request reached it; raises ApiError 400
    for a Host header that is not a host name."""
    context = request.context or {}
    domain = context.get("domainName")
    host = domain or request.headers.get("host", "")
    if not _HOST.match(host):
        raise errors.invalid("Host: must be a host name (and port) to build links with.")
    # API Gateway is HTTPS only; locally a proxy in front may say what the client used.
    forwarded = request.headers.get("x-forwarded-proto", "").lower()
    scheme = "https" if domain else (forwarded if forwarded in ("http", "https") else "http")
    return f"{scheme}://{host}{_prefix(request)}"


def _prefix(request: Request) -> str:
    """What precedes the route in the path the client used: '/dev' on an execute-api URL, a
    custom domain's base path, '' locally. API Gateway's context path is the whole path the
    client sent; the route with its parameters filled in is its tail."""
    context = request.context or {}
    full = str(context.get("path") or "")
    route = str(context.get("resourcePath") or "")
    for name, value in (request.uri_params or {}).items():
        route = route.replace("{" + name + "}", value)
    if route and full.endswith(route):
        prefix = full[: len(full) - len(route)]
    elif context.get("stage") and str(context.get("domainName", "")).endswith(".amazonaws.com"):
        prefix = "/" + str(context["stage"])
    else:
        prefix = ""
    return prefix if _PREFIX.match(prefix) else ""
