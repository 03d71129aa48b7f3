"""Cross-origin reads: the STAC API and /v1 GET routes answer any origin, writes do not, and
every OPTIONS (the preflight) is answered by the app, with the envelope's headers, locally and
in API Gateway alike."""

from __future__ import annotations

import pytest

from tests.conftest import body

ORIGIN = {"Origin": "https://radiantearth.github.io", "Host": "maps.test"}


def preflight(client, path: str, method: str, headers: str = "authorization") -> dict[str, str]:
    response = client.http.request(
        "OPTIONS",
        path,
        headers={
            **ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )
    assert response.status_code == 204, response.body
    assert response.body in (b"", "")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert len(response.headers["X-Request-Id"]) >= 8
    return response.headers


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/stac", "GET"),
        ("/stac/collections/geotiff/items", "GET"),
        ("/stac/search", "POST"),
        ("/v1/maps", "GET"),
        ("/v1/maps/00000000-0000-4000-8000-000000000000", "GET"),
    ],
)
def test_preflight_of_a_read_route_lets_any_origin_send_a_token(client, path, method):
    headers = preflight(client, path, method, "authorization,content-type")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert method in headers["Access-Control-Allow-Methods"].split(", ")
    allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-request-id"} <= allowed
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in headers  # no cookies to carry


def test_preflight_names_only_the_read_methods_of_a_path(client):
    # HEAD wherever GET is (chalicelib/web/head.py), a read like it.
    maps = preflight(client, "/v1/maps", "POST")
    assert maps["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert maps["Allow"] == "GET, HEAD, POST, OPTIONS"
    one = preflight(client, "/v1/maps/00000000-0000-4000-8000-000000000000", "DELETE")
    assert one["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert one["Allow"] == "DELETE, GET, HEAD, PATCH, OPTIONS"
    stac = preflight(client, "/stac/search", "POST")
    assert stac["Access-Control-Allow-Methods"] == "GET, HEAD, POST, OPTIONS"
    assert stac["Allow"] == "GET, HEAD, POST, OPTIONS"


@pytest.mark.parametrize("path", ["/v1/auth/token", "/v1/maps/x/upload/complete", "/"])
def test_preflight_of_a_write_or_page_route_allows_no_other_origin(client, path):
    headers = preflight(client, path, "POST")
    assert "Access-Control-Allow-Origin" not in headers
    assert "Access-Control-Allow-Methods" not in headers
    assert "OPTIONS" in headers["Allow"]


def test_read_answers_carry_the_origin_header_errors_too(client, users, alice):
    for path in ("/stac/collections", "/v1/maps", "/v1/health"):
        response = client.http.get(path, headers=ORIGIN)
        assert response.status_code == 200, path
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "X-Request-Id" in response.headers["Access-Control-Expose-Headers"]
    search = client.http.post(
        "/stac/search",
        headers={**ORIGIN, **users.headers("alice"), "Content-Type": "application/json"},
        body="{}",
    )
    assert search.status_code == 200
    assert search.headers["Access-Control-Allow-Origin"] == "*"
    # A browser client must read the error document too: same headers, the contract's shape.
    missing = client.http.get("/stac/collections/nope", headers=ORIGIN)
    assert missing.status_code == 404
    assert missing.headers["Access-Control-Allow-Origin"] == "*"
    assert set(body(missing)) == {"code", "message", "request_id"}
    bad = client.http.get("/v1/maps?limit=0", headers=ORIGIN)
    assert bad.status_code == 400
    assert bad.headers["Access-Control-Allow-Origin"] == "*"
    assert body(bad)["code"] == "invalid_request"


def test_writes_carry_no_cors_headers(client):
    response = client.http.post(
        "/v1/auth/token",
        headers={**ORIGIN, "Content-Type": "application/json"},
        body='{"username": "nobody", "password": "wrong password here"}',
    )
    assert response.status_code == 401
    assert "Access-Control-Allow-Origin" not in response.headers


def test_api_gateway_sends_every_preflight_to_the_app():
    """In the deployed API (Chalice's swagger), OPTIONS is a Lambda proxy method on every path,
    never Chalice's mock preflight, which would answer without the app's headers."""
    from chalice.deploy.swagger import TemplatedSwaggerGenerator

    from app import app

    swagger = TemplatedSwaggerGenerator().generate_swagger(app)
    assert set(swagger["paths"]) == set(app.routes)
    for path, operations in swagger["paths"].items():
        integration = operations["options"]["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy", path
