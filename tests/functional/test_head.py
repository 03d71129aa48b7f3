"""HEAD wherever GET is (RFC 9110 section 9.3.2): GET's status and headers, no body, the GET
body's Content-Length, and nothing written (a HEAD on a download link counts no download)."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pytest

from tests.conftest import GEOJSON, body, log_lines

ORIGIN = {"Origin": "https://radiantearth.github.io"}
# Presigned URLs carry the second they were signed at and a signature over it: a HEAD and a
# GET a second apart name the same object with these two differing.
_SIGNING_TIME = {"X-Amz-Date", "X-Amz-Signature"}


@pytest.fixture
def world(pipeline, users) -> dict[str, Any]:
    """A ready public map with a preview, owned by alice; a multipart upload of hers waiting."""
    users.create("alice")
    users.create("root", role="admin")
    alice = users.headers("alice")
    created = pipeline.upload_direct(alice, GEOJSON, "trails.geojson", visibility="public")
    assert created.status_code == 201, created.body
    map_id = body(created)["map"]["id"]
    pipeline.deliver_s3(map_id)
    assert pipeline.process_all() == {"batchItemFailures": []}
    assert body(pipeline.get(map_id, alice))["status"] == "ready"
    waiting = pipeline.create_presigned(
        alice, filename="big.geojson", size=20 * 1024 * 1024, multipart=True
    )
    assert waiting.status_code == 201, waiting.body
    return {
        "map": map_id,
        "upload": body(waiting)["map"]["id"],
        "alice": alice,
        "admin": users.headers("root"),
    }


def _urls(world: dict[str, Any]) -> dict[str, str]:
    """A request path for every GET route of the API (the web app's pages: test_site.py)."""
    m = world["map"]
    return {
        "/v1/health": "/v1/health",
        "/v1/openapi.json": "/v1/openapi.json",
        "/v1/me": "/v1/me",
        "/v1/users": "/v1/users",
        "/v1/maps": "/v1/maps?limit=5",
        "/v1/maps/{map_id}": f"/v1/maps/{m}",
        "/v1/maps/{map_id}/download": f"/v1/maps/{m}/download",
        "/v1/maps/{map_id}/preview": f"/v1/maps/{m}/preview",
        "/v1/maps/{map_id}/upload": f"/v1/maps/{world['upload']}/upload",
        "/stac": "/stac",
        "/stac/conformance": "/stac/conformance",
        "/stac/api": "/stac/api",
        "/stac/api.html": "/stac/api.html",
        "/stac/collections": "/stac/collections",
        "/stac/collections/{collection_id}": "/stac/collections/geojson",
        "/stac/collections/{collection_id}/items": "/stac/collections/geojson/items?limit=2",
        "/stac/collections/{collection_id}/items/{item_id}": f"/stac/collections/geojson/items/{m}",
        "/stac/search": "/stac/search?limit=2",
    }


def _comparable(headers: dict[str, str]) -> dict[str, str]:
    """Headers as HEAD must repeat them: not the per-request id, not Content-Length (checked
    against the GET body), a presigned Location without its signing time."""
    out = {k: v for k, v in headers.items() if k.lower() not in ("x-request-id", "content-length")}
    if "Location" in out:
        url = urlsplit(out["Location"])
        query = [(k, v) for k, v in parse_qsl(url.query) if k not in _SIGNING_TIME]
        out["Location"] = urlunsplit(url._replace(query=json.dumps(sorted(query))))
    return out


def assert_head_is_get(head: Any, got: Any, label: str = "") -> None:
    assert head.status_code == got.status_code, (label, head.status_code, got.status_code)
    assert head.body == b"", label
    assert head.headers["Content-Length"] == str(len(got.body)), label
    assert _comparable(head.headers) == _comparable(got.headers), label
    assert head.headers["X-Request-Id"] != got.headers["X-Request-Id"]


def _rows(sql: Any) -> dict[str, str]:
    """Every table of the app's schema, as one digest each: what a request could have written."""
    tables = [
        r[0]
        for r in sql.run(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'app' AND table_type = 'BASE TABLE' ORDER BY 1"
        )
    ]
    assert "maps" in tables and "users" in tables
    digest = "SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) FROM app.{} r"
    return {t: sql.run(digest.format(t))[0][0] for t in tables}


def _download_count(sql: Any, map_id: str) -> int:
    return int(sql.run("SELECT download_count FROM app.maps WHERE id = :id", id=map_id)[0][0])


def test_every_get_route_answers_head_as_get_without_a_body_and_writes_nothing(client, sql, world):
    from app import app

    gets = {path for path, methods in app.routes.items() if "GET" in methods}
    assert {path for path, methods in app.routes.items() if "HEAD" in methods} == gets
    site = {
        path
        for path in gets
        if app.routes[path]["GET"].view_function.__module__ == "chalicelib.web.routes.site"
    }
    urls = _urls(world)
    assert set(urls) == gets - site, "a new GET route needs a request path here"
    headers = {**world["admin"], **ORIGIN, "Host": "maps.test"}

    before = _rows(sql)
    heads = {route: client.http.head(url, headers=headers) for route, url in urls.items()}
    assert _rows(sql) == before  # HEAD wrote nothing, anywhere
    gots = {route: client.http.get(url, headers=headers) for route, url in urls.items()}
    assert _rows(sql) != before  # ... where GET did: the download counted (the check can fail)

    for route, got in gots.items():
        assert got.status_code in (200, 302), (route, got.status_code, got.body)
        assert got.headers["Access-Control-Allow-Origin"] == "*", route
        assert_head_is_get(heads[route], got, route)


def test_head_on_a_download_link_is_the_same_302_and_counts_nothing(client, sql, world, capsys):
    alice, map_id = world["alice"], world["map"]
    capsys.readouterr()
    head = client.http.head(f"/v1/maps/{map_id}/download", headers=alice)
    assert head.status_code == 302 and head.body == b""
    assert head.headers["Content-Length"] == "0"
    assert _download_count(sql, map_id) == 0
    assert log_lines(capsys, "map_download") == []  # no download logged either
    got = client.http.get(f"/v1/maps/{map_id}/download", headers=alice)
    assert_head_is_get(head, got)
    assert urlsplit(head.headers["Location"]).path == urlsplit(got.headers["Location"]).path
    assert _download_count(sql, map_id) == 1
    assert len(log_lines(capsys, "map_download")) == 1

    # ?redirect=false: the URL as JSON; HEAD gives that document's length, still no count.
    for count, variant in ((1, ""), (2, "&variant=original")):
        path = f"/v1/maps/{map_id}/download?redirect=false{variant}"
        head = client.http.head(path, headers=alice)
        assert _download_count(sql, map_id) == count
        got = client.http.get(path, headers=alice)
        assert_head_is_get(head, got, path)
        assert body(got)["url"].startswith("http")
        assert _download_count(sql, map_id) == count + 1

    # A guest on a public map: the same, counted only by GET.
    guest = client.http.head(f"/v1/maps/{map_id}/download")
    assert guest.status_code == 302 and guest.body == b""
    assert _download_count(sql, map_id) == 3


def test_head_on_a_preview_is_the_same_302(client, world):
    path = f"/v1/maps/{world['map']}/preview"
    head = client.http.head(path)
    got = client.http.get(path)
    assert got.status_code == 302
    assert got.headers["Cache-Control"].startswith("private, max-age=")
    assert_head_is_get(head, got)


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        (None, "/v1/me", 401),  # no token
        ("broken", "/v1/maps", 401),  # a token that is not one
        ("alice", "/v1/users", 403),  # not an admin
        ("alice", "/v1/maps/{missing}", 404),
        (None, "/v1/maps/{private}", 404),  # not allowed looks exactly like missing
        ("alice", "/v1/maps/{missing}/download", 404),
        ("alice", "/v1/maps/{waiting}/download", 409),  # not ready
        ("alice", "/v1/maps/{map}/download?redirect=maybe", 400),
        (None, "/v1/maps/not-a-uuid", 404),
        (None, "/stac/collections/nope", 404),
        (None, "/stac/search?limit=zero", 400),
    ],
)
def test_head_keeps_the_error_status_and_its_headers_without_the_body(
    client, sql, world, who, path, status
):
    private = body(
        client.http.post(
            "/v1/maps",
            headers={**world["alice"], "Content-Type": "application/json"},
            body=json.dumps({"filename": "p.geojson", "size": 10}),
        )
    )["map"]["id"]
    path = path.format(
        missing=uuid.uuid4(), private=private, waiting=world["upload"], map=world["map"]
    )
    tokens = {"broken": {"Authorization": "Bearer not.a.token"}, "alice": world["alice"]}
    headers = {"Host": "maps.test", **tokens.get(who or "", {})}
    before = _rows(sql)
    head = client.http.head(path, headers=headers)
    assert _rows(sql) == before
    got = client.http.get(path, headers=headers)
    assert got.status_code == status, got.body
    assert set(body(got)) == {"code", "message", "request_id"}
    assert_head_is_get(head, got, path)
    assert head.headers["Content-Type"] == "application/json"


def test_head_is_allowed_where_get_is_and_405_elsewhere(client, world):
    # OPTIONS and a 405's Allow list HEAD beside GET; a path without GET has no HEAD either.
    options = client.http.request("OPTIONS", f"/v1/maps/{world['map']}/download")
    assert options.headers["Allow"] == "GET, HEAD, OPTIONS"
    write_only = client.http.head("/v1/auth/token")
    assert write_only.status_code == 405 and write_only.body == b""
    assert "HEAD" not in client.http.request("OPTIONS", "/v1/auth/token").headers["Allow"]


def test_api_gateway_gets_a_head_method_beside_every_get_one():
    # What `chalice deploy` sends API Gateway (its swagger document): HEAD wherever GET is,
    # proxied to the same Lambda as GET.
    from chalice.deploy.swagger import CFNSwaggerGenerator

    from app import app

    paths = CFNSwaggerGenerator().generate_swagger(app)["paths"]
    gets = {path for path, item in paths.items() if "get" in item}
    assert "/v1/maps/{map_id}/download" in gets and "/stac/search" in gets
    for path in gets:
        get, head = paths[path]["get"], paths[path]["head"]
        assert head["x-amazon-apigateway-integration"] == get["x-amazon-apigateway-integration"]
        assert head["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
    assert {p for p, item in paths.items() if "head" in item} == gets
