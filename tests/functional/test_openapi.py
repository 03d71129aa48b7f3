"""GET /v1/openapi.json (OpenAPI 3.1) names exactly the app's /v1 routes, and GET /stac/api (the
STAC API's service-desc, OpenAPI 3.0) names exactly its /stac routes: together, every route."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from tests.conftest import body


def _routes(prefix: str) -> set[tuple[str, str]]:
    from app import app

    return {
        (re.sub(r"\{(\w+)\}", r"{\1}", path), method)
        for path, methods in app.routes.items()
        for method in methods
        if (path == prefix or path.startswith(prefix + "/")) and method != "OPTIONS"
    }


def _documented(spec: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in spec["paths"].items() for method in item}


def test_document_is_valid_and_matches_the_routes(client):
    from app import app

    response = client.http.get("/v1/openapi.json")
    assert response.status_code == 200
    spec = body(response)
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    assert _documented(spec) == _routes("/v1")
    # No route is left out of both documents, but the web application's pages and assets.
    # OPTIONS, on every path, is the CORS preflight (chalicelib/web/cors.py), not an operation.
    every = {
        (path, method)
        for path, methods in app.routes.items()
        for method in methods
        if method != "OPTIONS"
    }
    web = {
        (path, method)
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        if entry.view_function.__module__ == "chalicelib.web.routes.site"
    }
    assert web and all(method in ("GET", "HEAD") for _, method in web)
    assert _routes("/v1") | _routes("/stac") | web == every


def test_stac_service_desc_is_openapi_30_and_matches_the_stac_routes(client):
    response = client.http.get("/stac/api", headers={"Host": "maps.example:8443"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
    spec = body(response)
    validate(spec)
    assert spec["openapi"].startswith("3.0")
    assert spec["servers"] == [{"url": "http://maps.example:8443"}]
    assert _documented(spec) == _routes("/stac")


def test_every_operation_documents_its_error_shape(client):
    for path in ("/v1/openapi.json", "/stac/api"):
        spec = body(client.http.get(path, headers={"Host": "localhost"}))
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                errors = [code for code in operation["responses"] if code.startswith(("4", "5"))]
                if path not in ("/v1/openapi.json",):
                    assert errors, f"{method} {path} documents no error"
                if method == "head":
                    continue  # no body: test_head_operations_are_get_without_bodies
                for code in errors:
                    content = operation["responses"][code]["content"]["application/json"]
                    assert content["schema"]["$ref"] == "#/components/schemas/Error"


def test_head_operations_are_get_without_bodies(client):
    # The app answers HEAD wherever GET is (chalicelib/web/head.py): both documents say so.
    for path in ("/v1/openapi.json", "/stac/api"):
        spec = body(client.http.get(path, headers={"Host": "localhost"}))
        gets = {p for p, item in spec["paths"].items() if "get" in item}
        assert gets and gets == {p for p, item in spec["paths"].items() if "head" in item}
        for item in spec["paths"].values():
            if "get" not in item:
                continue
            get, head = item["get"], item["head"]
            assert head["operationId"] == get["operationId"] + "Head"
            assert head.get("parameters") == get.get("parameters")
            assert head.get("security") == get.get("security")
            assert set(head["responses"]) == set(get["responses"])
            assert all("content" not in r for r in head["responses"].values())
    html = client.http.get("/stac/api.html", headers={"Host": "localhost"}).body.decode()
    assert "<td>HEAD</td><td><code>http://localhost/stac/collections</code>" in html
