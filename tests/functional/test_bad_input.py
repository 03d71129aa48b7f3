"""Hostile and malformed input on every route: a named 4xx in the contract's shape, never 5xx."""

from __future__ import annotations

import json

import pytest

from tests.conftest import GEOJSON, body, multipart

MAP = "/v1/maps/00000000-0000-4000-8000-000000000000"


def _assert_error(response, status, code):
    assert response.status_code == status, response.body
    doc = body(response)
    assert set(doc) == {"code", "message", "request_id"}
    assert doc["code"] == code
    assert doc["request_id"] == response.headers["X-Request-Id"]
    assert "Traceback" not in doc["message"]


def _post_json(client, headers, raw, path="/v1/maps"):
    return client.http.post(path, headers={**headers, "Content-Type": "application/json"}, body=raw)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'"just a string"', "body"),
        (b'{"filename": "a.tif", "size": NaN}', "body"),
        (b"\xff\xfe", "body"),
        (b'{"size": 10}', "filename"),
        (b'{"filename": "a.tif"}', "size"),
        (b'{"filename": "a.tif", "size": "10"}', "size"),
        (b'{"filename": "a.tif", "size": true}', "size"),
        (b'{"filename": "a.tif", "size": 1.5}', "size"),
        (b'{"filename": "a.tif", "size": 0}', "size"),
        (b'{"filename": "a.tif", "size": -1}', "size"),
        (b'{"filename": 7, "size": 10}', "filename"),
        (b'{"filename": "a.tif", "size": 10, "owner": "bob"}', "owner"),
        (b'{"filename": "../../etc/passwd", "size": 10}', "filename"),
        (b'{"filename": "a\\u0000b.tif", "size": 10}', "filename"),
        (b'{"filename": "..", "size": 10}', "filename"),
        (b'{"filename": "C:\\\\maps\\\\a.tif", "size": 10}', "filename"),
        (b'{"filename": "a.tif", "size": 10, "visibility": "everyone"}', "visibility"),
        (b'{"filename": "a.tif", "size": 10, "sha256": "abc"}', "sha256"),
        (b'{"filename": "a.tif", "size": 10, "title": "   "}', "title"),
        (b'{"filename": "\\ud800.tif", "size": 10}', "filename"),
        (json.dumps({"filename": "a.tif", "size": 10, "title": "t" * 201}).encode(), "title"),
        (json.dumps({"filename": "a" * 256, "size": 10}).encode(), "filename"),
        (
            json.dumps({"filename": "a.tif", "size": 10, "description": "d" * 5001}).encode(),
            "description",
        ),
    ],
)
def test_presigned_create_rejects_bad_fields(client, alice, sql, raw, field):
    response = _post_json(client, alice, raw)
    _assert_error(response, 400, "invalid_request")
    assert field in body(response)["message"]
    assert sql.run("SELECT count(*) FROM app.maps")[0][0] == 0


def test_oversized_declared_upload_is_413(client, alice):
    response = _post_json(client, alice, json.dumps({"filename": "a.tif", "size": 6 * 1024**3}))
    _assert_error(response, 413, "too_large")


def test_oversized_direct_upload_is_413_and_points_to_presigned(client, alice):
    data = b"x" * (4 * 1024 * 1024 + 1)
    response = client.http.post(
        "/v1/maps?filename=big.tif",
        headers={**alice, "Content-Type": "application/octet-stream"},
        body=data,
    )
    _assert_error(response, 413, "too_large")
    assert "presigned" in body(response)["message"]


def test_huge_json_body_is_413(client, alice):
    response = _post_json(
        client, alice, json.dumps({"filename": "a", "size": 1, "description": "d" * 70000})
    )
    _assert_error(response, 413, "too_large")


def test_wrong_content_type_is_415(client, alice):
    response = client.http.post(
        "/v1/maps", headers={**alice, "Content-Type": "text/plain"}, body=b"x"
    )
    _assert_error(response, 415, "unsupported_media_type")
    patch = client.http.patch(MAP, headers={**alice, "Content-Type": "text/xml"}, body=b"<x/>")
    _assert_error(patch, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("fields", "file", "field"),
    [
        ({}, None, "file"),
        ({"title": "x"}, ("", b"data"), "file"),
        ({"visibility": "nope"}, ("a.geojson", GEOJSON), "visibility"),
        ({"colour": "red"}, ("a.geojson", GEOJSON), "colour"),
        ({}, ("../x.geojson", GEOJSON), "filename"),
        ({}, ("a.geojson", b""), "file"),
    ],
)
def test_direct_multipart_rejects_bad_parts(client, alice, sql, fields, file, field):
    payload, content_type = multipart(fields, file)
    response = client.http.post(
        "/v1/maps", headers={**alice, "Content-Type": content_type}, body=payload
    )
    _assert_error(response, 400, "invalid_request")
    assert field in body(response)["message"]
    assert sql.run("SELECT count(*) FROM app.maps")[0][0] == 0


def test_truncated_multipart_is_400(client, alice):
    payload, content_type = multipart({}, ("a.geojson", GEOJSON))
    response = client.http.post(
        "/v1/maps", headers={**alice, "Content-Type": content_type}, body=payload[:-40]
    )
    _assert_error(response, 400, "invalid_request")
    missing_boundary = client.http.post(
        "/v1/maps", headers={**alice, "Content-Type": "multipart/form-data"}, body=payload
    )
    _assert_error(missing_boundary, 400, "invalid_request")


def test_raw_upload_needs_filename(client, alice):
    response = client.http.post(
        "/v1/maps", headers={**alice, "Content-Type": "application/octet-stream"}, body=GEOJSON
    )
    _assert_error(response, 400, "invalid_request")
    assert "filename" in body(response)["message"]
    ok = client.http.post(
        "/v1/maps?filename=trail%20map.geojson&visibility=members",
        headers={**alice, "Content-Type": "application/octet-stream"},
        body=GEOJSON,
    )
    assert ok.status_code == 201
    assert body(ok)["map"]["filename"] == "trail map.geojson"
    assert body(ok)["map"]["visibility"] == "members"


def test_unicode_filename_is_kept_as_metadata_only(client, alice, sql):
    payload, content_type = multipart({}, ("Carte de l'Aiguille \u2013 été.geojson", GEOJSON))
    response = client.http.post(
        "/v1/maps", headers={**alice, "Content-Type": content_type}, body=payload
    )
    assert response.status_code == 201
    doc = body(response)["map"]
    assert doc["filename"] == "Carte de l'Aiguille \u2013 été.geojson"
    key = sql.run("SELECT object_key FROM app.maps WHERE id = :id", id=doc["id"])[0][0]
    assert key == f"maps/{doc['id']}/original"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/maps/not-a-uuid",
        "/v1/maps/00000000-0000-4000-8000-00000000000Z",
        "/v1/maps/%2e%2e",
        "/v1/maps/{00000000-0000-4000-8000-000000000000}",
    ],
)
def test_invalid_map_ids_are_404(client, alice, path):
    for method in ("get", "delete"):
        _assert_error(getattr(client.http, method)(path, headers=alice), 404, "not_found")
    _assert_error(client.http.get(path + "/download", headers=alice), 404, "not_found")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{}", "body"),
        (b'{"visibility": "secret"}', "visibility"),
        (b'{"title": null}', "title"),
        (b'{"title": 5}', "title"),
        (b'{"owner": "bob"}', "owner"),
        (b'{"status": "ready"}', "status"),
        (b"null", "body"),
    ],
)
def test_patch_rejects_bad_fields(client, alice, raw, field):
    payload, content_type = multipart({}, ("a.geojson", GEOJSON))
    map_id = body(
        client.http.post("/v1/maps", headers={**alice, "Content-Type": content_type}, body=payload)
    )["map"]["id"]
    response = client.http.patch(
        f"/v1/maps/{map_id}", headers={**alice, "Content-Type": "application/json"}, body=raw
    )
    _assert_error(response, 400, "invalid_request")
    assert field in body(response)["message"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=-5", "limit"),
        ("cursor=garbage", "cursor"),
        ("cursor=W10", "cursor"),
        ("format=exe", "format"),
        ("visibility=all", "visibility"),
        ("status=deleted", "status"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=10,0,0,10", "bbox"),
        ("bbox=0,0,200,10", "bbox"),
        ("bbox=nan,0,1,1", "bbox"),
        ("owner=../x", "owner"),
        ("sort=name", "sort"),
        ("limit=1&limit=2", "limit"),
    ],
)
def test_browse_rejects_bad_query(client, query, field):
    response = client.http.get(f"/v1/maps?{query}")
    _assert_error(response, 400, "invalid_request")
    assert field in body(response)["message"]


def test_download_rejects_bad_redirect_flag(client, alice):
    _assert_error(
        client.http.get(f"{MAP}/download?redirect=maybe", headers=alice), 400, "invalid_request"
    )


def test_unknown_method_is_405_in_contract_shape(client):
    response = client.http.put("/v1/maps", headers={"Content-Type": "application/json"}, body=b"{}")
    _assert_error(response, 405, "method_not_allowed")


def test_guest_cannot_upload(client):
    response = _post_json(client, {}, json.dumps({"filename": "a.tif", "size": 10}))
    _assert_error(response, 401, "unauthorized")


def test_request_id_is_generated_when_incoming_one_is_unsafe(client):
    response = client.http.get("/v1/health", headers={"X-Request-Id": "bad id\r\nX-Injected: 1"})
    assert response.headers["X-Request-Id"] != "bad id\r\nX-Injected: 1"
    assert len(response.headers["X-Request-Id"]) == 32


def test_unexpected_error_is_500_without_details(client, monkeypatch, capsys):
    from chalicelib import db

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(db, "call", broken)
    response = client.http.get("/v1/maps")
    _assert_error(response, 500, "internal")
    assert "secret" not in response.body.decode()
    logged = [
        line for line in capsys.readouterr().out.splitlines() if "unhandled_exception" in line
    ]
    assert len(logged) == 1
    assert response.headers["X-Request-Id"] in logged[0]


def test_database_down_is_503(client, monkeypatch):
    from chalicelib import errors

    def down(*args, **kwargs):
        raise errors.unavailable()

    monkeypatch.setattr("chalicelib.db.call", down)
    response = client.http.get("/v1/health")
    _assert_error(response, 503, "unavailable")
