"""Cross-origin reads: the STAC API and the /v1 GET (and HEAD) routes answer any origin (STAC
Browser and other web clients on their own origin), and every path answers OPTIONS (the CORS
preflight).

Why `Access-Control-Allow-Origin: *` exposes nothing: the API has no ambient credentials. A
caller proves who it is only by an `Authorization: Bearer` header that it sets itself; there
are no cookies and no HTTP authentication a browser would add on its own. So a page on another
origin can read only what it could read with its own token, or with none: what any program
outside a browser can fetch anyway. (Browsers never send credentials with a request answered
`*`, so this also stays safe should a cookie ever appear.) Writes stay same-origin (no CORS
headers), though the same argument would hold for them.

Preflights are routes of ours, not Chalice's CORSConfig: that answers them in API Gateway (a
mock integration) and in `chalice local` without running the app, so without the request id,
nosniff and the error envelope every other answer carries, and differently in each place.
"""

from __future__ import annotations

from chalice import Chalice, Response

# Read-only by method (HEAD is GET without the body); POST /stac/search is a search with a JSON
# body (STAC API item search).
_READ_METHODS = ("GET", "HEAD")
_READ_POSTS = ("/stac/search",)
_PREFIXES = ("/v1/", "/stac")
ALLOW_HEADERS = "Authorization, Content-Type, X-Request-Id"
EXPOSE_HEADERS = "X-Request-Id, Retry-After"
MAX_AGE_SECONDS = 7200  # Chromium's cap; a browser asks again after this


def cross_origin(path: str, method: str) -> bool:
    """Whether a route (its Chalice path and method) answers other origins."""
    if not path.startswith(_PREFIXES):
        return False
    return method in _READ_METHODS or (method == "POST" and path in _READ_POSTS)


def response_headers(path: str | None, method: str) -> dict[str, str]:
    """The CORS headers of an answer to this route (none for a same-origin-only one)."""
    if path is None or not cross_origin(path, method):
        return {}
    return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSE_HEADERS}


def install(app: Chalice) -> None:
    """An OPTIONS route on every path; call after every blueprint, before envelope.install."""
    methods_of = {path: sorted(methods) for path, methods in app.routes.items()}

    def preflight(**_path_params: str) -> Response:
        """204 with Allow, and the CORS preflight answer where the path takes other origins."""
        context = app.current_request.context if app.current_request else {}
        path = context.get("resourcePath", "")
        methods = methods_of.get(path, [])
        headers: dict[str, str | list[str]] = {"Allow": ", ".join([*methods, "OPTIONS"])}
        shared = [m for m in methods if cross_origin(path, m)]
        if shared:
            headers.update(
                {
                    "Access-Control-Allow-Origin": "*",
                    "Access-Control-Allow-Methods": ", ".join([*shared, "OPTIONS"]),
                    "Access-Control-Allow-Headers": ALLOW_HEADERS,
                    "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
                }
            )
        return Response(body="", status_code=204, headers=headers)

    for path in methods_of:
        app.route(path, methods=["OPTIONS"], name="preflight")(preflight)
