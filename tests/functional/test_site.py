"""The web application as the Chalice app serves it: the HTML shell on the app's paths (with
its security headers and relative URLs), the hashed assets, 404s in the contract's shape."""

from __future__ import annotations

import gzip
import itertools
import re
from typing import Any

import pytest

from tests.conftest import body
from tests.webapp_build import SITE, ensure_built

APP_PATHS = ["/", "/mine", "/upload", "/admin", "/sign-in", "/account"]


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return ensure_built()


def _csp(response: Any) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {d.split(" ", 1)[0]: d.partition(" ")[2] for d in policy.split("; ")}


@pytest.mark.parametrize("path", APP_PATHS)
def test_app_paths_serve_the_shell_with_strict_headers(client, manifest, path):
    response = client.http.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-cache"
    csp = _csp(response)
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["worker-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'self'"
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    html = response.body.decode()
    assert '<base href="./">' in html
    assert f'<script type="module" src="static/{manifest["entries"]["app"]}">' in html
    assert f'href="static/{manifest["entries"]["style"]}"' in html
    assert "<script>" not in html  # nothing inline: the CSP would refuse it anyway


def test_deep_link_to_a_map_leads_back_to_the_root(client, manifest):
    response = client.http.get("/maps/9b2f6a51-3c1e-4f43-9a43-3f1a0d0c5a11")
    assert response.status_code == 200
    html = response.body.decode()
    # Relative URLs from /maps/ID (or /api/maps/ID behind a stage) resolve from the root.
    assert '<base href="../">' in html
    assert not re.search(r'(?:src|href)="/', html), "every URL in the shell is relative"


@pytest.mark.parametrize(
    ("path", "base"), [("/", "./"), ("/api/", "./"), ("/api", "api/"), ("/v2-stage", "v2-stage/")]
)
def test_home_base_leads_to_the_app_root_with_or_without_the_stage_slash(path, base):
    from urllib.parse import urljoin

    from chalicelib.web.routes.site import home_base

    assert home_base(path) == base
    page = "https://x.example" + path
    assert urljoin(page, home_base(path) + "static/a.js").endswith(
        path.rstrip("/") + "/static/a.js"
    )


def test_csp_allows_the_storage_origin_for_previews_and_uploads(client, stack, manifest):
    csp = _csp(client.http.get("/"))
    endpoint = stack["AWS_ENDPOINT_URL"].rstrip("/")
    assert endpoint in csp["img-src"].split()
    assert endpoint in csp["connect-src"].split()


def test_an_online_basemap_style_is_named_in_the_page_and_the_csp(client, manifest, monkeypatch):
    monkeypatch.setenv("MAPSTOCK_BASEMAP_STYLE", "https://tiles.example.org/styles/basic.json")
    monkeypatch.setenv("MAPSTOCK_BASEMAP_ORIGINS", "https://a.tiles.example.org")
    response = client.http.get("/")
    html = response.body.decode()
    assert (
        '<meta name="mapstock-basemap-style" '
        'content="https://tiles.example.org/styles/basic.json">' in html
    )
    csp = _csp(response)
    for origin in ("https://tiles.example.org", "https://a.tiles.example.org"):
        assert origin in csp["connect-src"].split()
        assert origin in csp["img-src"].split()


def test_without_a_style_the_page_uses_the_shipped_world_outline(client, manifest, monkeypatch):
    monkeypatch.delenv("MAPSTOCK_BASEMAP_STYLE", raising=False)
    html = client.http.get("/").body.decode()
    assert "mapstock-basemap-style" not in html
    world = manifest["entries"]["basemap"]
    response = client.http.get(f"/static/{world}")
    assert response.status_code == 200
    doc = body(response)
    assert doc["type"] == "FeatureCollection"
    kinds = {f["properties"]["kind"] for f in doc["features"]}
    assert kinds == {"land", "border"}
    # Cut at the antimeridian: no segment jumps across the map (but along a pole, closing
    # Antarctica).
    for feature in doc["features"]:
        geometry = feature["geometry"]
        lines = (
            [ring for polygon in geometry["coordinates"] for ring in polygon]
            if geometry["type"] == "MultiPolygon"
            else geometry["coordinates"]
        )
        for line in lines:
            for a, b in itertools.pairwise(line):
                assert abs(a[0] - b[0]) <= 180 or abs(a[1]) == abs(b[1]) == 90, (a, b)


def test_assets_are_immutable_with_their_types(client, manifest):
    assert manifest["files"], "the build wrote no assets"
    for name, info in manifest["files"].items():
        response = client.http.get(f"/static/{name}")
        assert response.status_code == 200, name
        assert response.headers["Content-Type"] == info["type"]
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        stored = gzip.decompress((SITE / "static" / f"{name}.gz").read_bytes())
        assert response.body == stored and len(stored) == info["bytes"]
        # The name carries the content's hash: a changed file is a new URL.
        assert re.fullmatch(r"[\w-]+\.[A-Za-z0-9]{8,}\.(js|css|geojson|svg)", name), name


@pytest.mark.parametrize(
    "name",
    ["app.js", "nope.0123456789ab.js", "..%2Fmanifest.json", "manifest.json", "%2e%2e"],
)
def test_unknown_assets_are_contract_404s(client, manifest, name):
    response = client.http.get(f"/static/{name}")
    assert response.status_code == 404
    doc = body(response)
    assert doc["code"] == "not_found"
    assert set(doc) == {"code", "message", "request_id"}
    assert response.headers["Content-Type"] == "application/json"


def test_the_app_code_never_parses_html(manifest):
    # Every user string reaches the page as text: no innerHTML & co. in the app's own code.
    from tests.webapp_build import ROOT

    sources = list((ROOT / "webapp" / "src").rglob("*.js"))
    assert sources
    for path in sources:
        code = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in code, f"{path.name} uses {sink}"


@pytest.mark.parametrize("path", [*APP_PATHS, "/maps/9b2f6a51-3c1e-4f43-9a43-3f1a0d0c5a11"])
def test_head_on_a_page_is_get_without_the_body(client, manifest, path):
    got = client.http.get(path)
    head = client.http.head(path)
    assert head.status_code == got.status_code == 200
    assert head.body == b""
    assert head.headers["Content-Length"] == str(len(got.body))
    same = {k: v for k, v in got.headers.items() if k.lower() != "x-request-id"}
    assert {k: head.headers[k] for k in same} == same


def test_head_on_an_asset_gives_its_length_and_an_unknown_one_a_bare_404(client, manifest):
    name = manifest["entries"]["app"]
    head = client.http.head(f"/static/{name}")
    assert head.status_code == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(manifest["files"][name]["bytes"])
    assert head.headers["Content-Type"] == manifest["files"][name]["type"]
    assert head.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    missing = client.http.head("/static/nope.0123456789ab.js")
    assert missing.status_code == 404 and missing.body == b""
    assert missing.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/maps/9b2f6a51-3c1e-4f43-9a43-3f1a0d0c5a11/", "../9b2f6a51-3c1e-4f43-9a43-3f1a0d0c5a11"),
        ("/mine/", "../mine"),
        ("/account/", "../account"),
        ("/upload/?a=1&a=2&q=x%20y", "../upload?a=1&a=2&q=x+y"),
    ],
)
def test_a_trailing_slash_redirects_to_the_page_without_it(client, manifest, path, location):
    from urllib.parse import urljoin

    response = client.http.get(path)
    assert response.status_code == 308
    assert response.headers["Location"] == location
    # Relative: it leads to the canonical page from the slashed one (and under a stage).
    assert urljoin("https://x.example" + path, location).split("?")[0] == (
        "https://x.example" + path.split("?")[0].rstrip("/")
    )


def test_the_home_page_keeps_its_slash(client, manifest):
    assert client.http.get("/").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "accept", "page"),
    [
        ("GET", "/nope", "text/html,application/xhtml+xml,*/*;q=0.8", True),
        ("HEAD", "/maps/", "text/html", True),
        ("GET", "/MAPS/abc", "text/html", True),
        ("GET", "/nope", "application/json", False),
        ("GET", "/nope", "*/*", False),
        ("POST", "/nope", "text/html", False),
        ("GET", "/v1/nope", "text/html", False),
        ("GET", "/v1", "text/html", False),
        ("GET", "/stac/nope", "text/html", False),
        ("GET", "/static/nope.js", "text/html", False),
    ],
)
def test_only_browser_navigations_outside_the_api_get_the_page(method, path, accept, page):
    from chalicelib.web.routes.site import is_page_navigation

    assert is_page_navigation(method, path, accept) is page


@pytest.mark.parametrize(
    ("path", "base"), [("/nope", "./"), ("/maps/", "../"), ("/a/b/c", "../../")]
)
def test_the_not_found_page_leads_back_to_the_root(manifest, path, base):
    from chalicelib.web.routes.site import not_found_page

    headers, page = not_found_page("GET", path)
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "'unsafe" not in headers["Content-Security-Policy"]
    assert page is not None and f'<base href="{base}">'.encode() in page
    assert not_found_page("HEAD", path)[1] is None
