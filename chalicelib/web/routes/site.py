"""The web application: its HTML shell on the app's paths (/, /maps/{id}, …) and its
content-hashed assets (/static/{name}), built by webapp/build.mjs into chalicelib/site/
(stored gzipped: the Lambda package carries 0.5 MB of them instead of 1.9 MB)."""

from __future__ import annotations

import functools
import gzip
import html
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from chalice import Blueprint, Response

from chalicelib import errors, storage
from chalicelib.config import get_settings, web_settings

bp = Blueprint(__name__)

SITE = Path(__file__).resolve().parents[2] / "site"  # chalicelib/site
IMMUTABLE = "public, max-age=31536000, immutable"
# The shell names the current assets: a browser revalidates it, never serves a stale one.
SHELL_CACHE = "no-cache"
_ANY_MAP = "00000000-0000-0000-0000-000000000000"
# HEAD too (uptime checkers, link previews, users' tools): the envelope answers it as GET
# without the body.
PAGE_METHODS = ["GET", "HEAD"]
# Headers on every page and asset: no sniffing, no referrer (a page's URL never leaves with a
# request to S3), no framing.
_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SiteNotBuilt(RuntimeError):
    """chalicelib/site/manifest.json is missing: the web application was not built."""


def manifest() -> dict[str, Any]:
    """The build's manifest (entries, preload, files); raises SiteNotBuilt."""
    path = SITE / "manifest.json"
    try:
        # Keyed by its mtime: `make webapp` while `make run` is up serves the new build.
        return _read_manifest(path, path.stat().st_mtime_ns)
    except FileNotFoundError:
        raise SiteNotBuilt("run `make webapp` (npm ci + node webapp/build.mjs)") from None


@functools.lru_cache(maxsize=1)
def _read_manifest(path: Path, mtime_ns: int) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return doc


def storage_origins() -> tuple[str, ...]:
    """Where the browser fetches previews and sends uploads: the origins of the URLs this
    API presigns (computed locally by boto3, no request). Raises nothing."""
    return _origins_of(storage.client(), get_settings().bucket)


@functools.lru_cache(maxsize=2)
def _origins_of(client: Any, bucket: str) -> tuple[str, ...]:
    # Per S3 client (one per container; tests make fresh ones) and bucket.
    urls = [
        storage.presigned_image(storage.preview_key(_ANY_MAP), "image/png", 60),
        storage.presigned_post(storage.original_key(_ANY_MAP), 1, 60)["url"],
    ]
    return tuple(dict.fromkeys(f"{p.scheme}://{p.netloc}" for p in map(urlsplit, urls)))


def content_security_policy() -> str:
    """The page's CSP: scripts, styles and workers from this origin only (MapLibre 6 starts its
    worker as a module from our URL: no blob:, no 'unsafe-eval', no inline anything); images
    from here, S3 (previews), blob: and data: (MapLibre's control icons are data: SVGs in its
    CSS); fetches to this API, S3 (uploads) and an online basemap's origins when one is set."""
    web = web_settings()
    storage_hosts = " ".join(storage_origins())
    basemap = " ".join(web.basemap_origins)
    directives = [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' blob: data: {storage_hosts} {basemap}".rstrip(),
        f"connect-src 'self' {storage_hosts} {basemap}".rstrip(),
        "worker-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def shell_html(base: str) -> str:
    """The HTML shell; `base` ("./", "../") leads from the page's path to the app's root, so
    every URL in the app is relative and works under an API Gateway stage prefix."""
    site = manifest()
    entries = site["entries"]
    style = web_settings().basemap_style
    esc = html.escape
    preload = "".join(
        f'<link rel="modulepreload" href="static/{esc(name)}">' for name in site["preload"]
    )
    meta_style = f'<meta name="mapstock-basemap-style" content="{esc(style)}">' if style else ""
    return (
        "<!doctype html>"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<base href="{esc(base)}">'
        "<title>Map Stock</title>"
        '<meta name="description" content="Map Stock: browse, share and download maps.">'
        f"{meta_style}"
        f'<link rel="icon" href="static/{esc(entries["icon"])}" type="image/svg+xml">'
        f'<link rel="stylesheet" href="static/{esc(entries["style"])}">'
        f'<script type="module" src="static/{esc(entries["app"])}"></script>'
        f"{preload}"
        '</head><body><div id="app">'
        "<noscript><p>Map Stock's web application needs JavaScript. The HTTP API (v1/) and the "
        "mapstock client work without it.</p></noscript>"
        "</div></body></html>"
    )


def shell_headers() -> dict[str, str]:
    """The shell's headers (security, CSP, revalidate)."""
    return {
        **_COMMON,
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": content_security_policy(),
        "Cache-Control": SHELL_CACHE,
    }


def _shell(base: str) -> Response:
    moved = trailing_slash_redirect(bp.current_request)
    if moved is not None:
        return moved
    headers: dict[str, str | list[str]] = {**shell_headers()}
    return Response(body=shell_html(base), status_code=200, headers=headers)


def trailing_slash_redirect(request: Any) -> Response | None:
    """A 308 to the page's path without its trailing slash ("/mine/" -> "mine", query kept),
    or None. API Gateway (and chalice local) route "/maps/ID/" to "/maps/{map_id}", but a
    browser resolves the shell's relative URLs from "/maps/ID/": every asset would 404. The
    Location is relative, so it holds under a stage prefix. The home page keeps its slash.
    Raises nothing."""
    context = request.context or {}
    path = str(context.get("path") or "")
    if context.get("resourcePath") == "/" or not path.endswith("/") or not path.strip("/"):
        return None
    last = path.rstrip("/").rsplit("/", 1)[-1]
    params = request.query_params
    pairs = [(k, v) for k in params for v in params.getlist(k)] if params else []
    location = "../" * (len(path) - len(path.rstrip("/"))) + quote(last, safe="%")
    if pairs:
        location += "?" + urlencode(pairs)
    return Response(body="", status_code=308, headers={**_COMMON, "Location": location})


def home_base(path: str) -> str:
    """The <base href> of the home page requested at `path`: "./" normally, but behind an API
    Gateway stage reached without its slash ("/api"), relative URLs would resolve from the
    domain's root, so the base names the stage: "api/"."""
    if path.endswith("/"):
        return "./"
    return quote(path.rsplit("/", 1)[-1]) + "/"


@bp.route("/", methods=PAGE_METHODS)
def home() -> Response:
    """Browse (the web application's home)."""
    context = bp.current_request.context or {}
    return _shell(home_base(str(context.get("path") or "/")))


@bp.route("/maps/{map_id}", methods=PAGE_METHODS)
def map_page(map_id: str) -> Response:
    """A map's page (a deep link: the app reads the id; a wrong one shows "not found")."""
    return _shell("../")


# The app's other pages: the same shell, the client routes.
@bp.route("/mine", methods=PAGE_METHODS)
def my_maps_page() -> Response:
    """My maps."""
    return _shell("./")


@bp.route("/upload", methods=PAGE_METHODS)
def upload_page() -> Response:
    """Upload a map."""
    return _shell("./")


@bp.route("/admin", methods=PAGE_METHODS)
def admin_page() -> Response:
    """Users (admins)."""
    return _shell("./")


@bp.route("/sign-in", methods=PAGE_METHODS)
def sign_in_page() -> Response:
    """Sign in."""
    return _shell("./")


@bp.route("/account", methods=PAGE_METHODS)
def account_page() -> Response:
    """The member's account."""
    return _shell("./")


@functools.lru_cache(maxsize=16)
def asset_text(name: str) -> str:
    """A built asset's text (names are content hashes: cached for the container's life)."""
    return gzip.decompress((SITE / "static" / f"{name}.gz").read_bytes()).decode("utf-8")


@bp.route("/static/{name}", methods=PAGE_METHODS)
def static_asset(name: str) -> Response:
    """A built asset by its content-hashed name, cacheable for a year; 404 for any other name.
    Text (JS, CSS, GeoJSON, SVG) goes out as text: API Gateway compresses responses itself
    (minimum_compression_size), and so does `make run`'s gateway."""
    info = manifest()["files"].get(name)
    if info is None:
        raise errors.not_found("No such asset.")
    body = asset_text(name)
    headers: dict[str, str | list[str]] = {
        **_COMMON,
        "Content-Type": info["type"],
        "Cache-Control": IMMUTABLE,
        # A module worker's own policy comes with its script: the same as the page's.
        "Content-Security-Policy": content_security_policy(),
    }
    return Response(body=body, status_code=200, headers=headers)


# Where a browser never navigates: the API, STAC and the assets keep JSON errors everywhere.
_NOT_PAGES = ("/v1/", "/stac", "/static/")


def is_page_navigation(method: str, path: str, accept: str) -> bool:
    """Whether a request for a path no route matches is a browser navigating (GET or HEAD,
    Accept names text/html, outside /v1/, /stac and /static/): it gets the app's own "not
    found" page instead of the JSON error an API client reads. Raises nothing."""
    path = urlsplit(path).path
    if method.upper() not in ("GET", "HEAD") or "text/html" not in accept.lower():
        return False
    return path != "/v1" and not path.startswith(_NOT_PAGES)


def page_base(path: str) -> str:
    """The <base href> leading from `path` to the app's root: "./" for "/nope", "../" for
    "/maps/" or "/MAPS/x" (a browser resolves from the path's last "/")."""
    return "../" * (urlsplit(path).path.count("/") - 1) or "./"


def not_found_page(method: str, path: str) -> tuple[dict[str, str], bytes | None]:
    """The headers and body of a 404 for a browser at `path`: the shell, whose router shows
    the app's "Page not found" view (no body for HEAD). Raises SiteNotBuilt."""
    body = None if method.upper() == "HEAD" else shell_html(page_base(path)).encode()
    return shell_headers(), body
