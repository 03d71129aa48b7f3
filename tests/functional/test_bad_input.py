"""Hostile and malformed input on every route: a named 4xx in the contract's shape, never 5xx."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

import pytest

from chalicelib.web.request import MAX_JSON_DEPTH, MAX_NUMBER_DIGITS
from chalicelib.web.routes.maps import decode_cursor, encode_cursor
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
    too_big = 100 * 1024**3 + 1  # MAX_UPLOAD_BYTES defaults to 100 GiB
    response = _post_json(client, alice, json.dumps({"filename": "a.tif", "size": too_big}))
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
        ("bbox=0,10,10,0", "bbox"),  # south above north (west > east crosses the antimeridian)
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


# Classes of hostile input (issue 11): deep JSON on every JSON route, integers in anything but
# ASCII digits, times PostgreSQL would refuse (or Python would overflow on), and characters that
# hide or reorder text in what people are shown. Every case: a 4xx in the contract's shape, and
# nothing stored.


@pytest.fixture
def routes(client, users, sql):
    """Every route that reads a JSON body: name -> (method, path, the caller's headers)."""
    users.create("alice")
    users.create("root", role="admin")
    alice, root = users.headers("alice"), users.headers("root")
    payload, content_type = multipart({"title": "kept"}, ("a.geojson", GEOJSON))
    made = client.http.post(
        "/v1/maps", headers={**alice, "Content-Type": content_type}, body=payload
    )
    map_id = body(made)["map"]["id"]
    return {
        "login": ("post", "/v1/auth/token", {}),
        "create_user": ("post", "/v1/users", root),
        "update_user": ("patch", "/v1/users/alice", root),
        "create_map": ("post", "/v1/maps", alice),
        "update_map": ("patch", f"/v1/maps/{map_id}", alice),
        "part_urls": ("post", f"/v1/maps/{map_id}/upload/parts", alice),
        "complete": ("post", f"/v1/maps/{map_id}/upload/complete", alice),
        "stac_search": ("post", "/stac/search", alice),
    }


def _stored(sql):
    """Everything a request could have written: maps, users, and their editable columns."""
    return (
        sql.run("SELECT id, title, description, filename, visibility FROM app.maps ORDER BY id"),
        sql.run(
            "SELECT username, role, active_until, token_version, password_hash FROM app.users "
            "ORDER BY username"
        ),
    )


def _send(client, route, raw, headers=None):
    method, path, caller = route
    return getattr(client.http, method)(
        path, headers={**(caller if headers is None else headers), **_JSON}, body=raw
    )


_JSON = {"Content-Type": "application/json"}


def _nest(shape, depth):
    if shape == "arrays":
        return b"[" * depth + b"]" * depth
    if shape == "objects":
        return b'{"a":' * depth + b"1" + b"}" * depth
    if shape == "mixed":
        return b'[{"a":' * (depth // 2 + 1) + b"0" + b"}]" * (depth // 2 + 1)
    if shape == "unclosed":
        return b"[" * depth
    return b'{"title":' + b"[" * depth + b"]" * depth + b"}"  # deep inside a field


@pytest.mark.parametrize("route_name", ["login", "create_user", "update_user", "create_map"])
@pytest.mark.parametrize("shape", ["arrays", "objects", "mixed", "unclosed", "in_a_field"])
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 10_000])
def test_deep_json_is_400_on_every_json_route(client, sql, routes, route_name, shape, depth):
    before = _stored(sql)
    response = _send(client, routes[route_name], _nest(shape, depth))
    _assert_error(response, 400, "invalid_request")
    assert body(response)["message"].startswith("body:")
    assert _stored(sql) == before


@pytest.mark.parametrize("shape", ["arrays", "objects", "mixed", "unclosed", "in_a_field"])
def test_deep_json_is_400_on_map_patch(client, sql, routes, shape):
    before = _stored(sql)
    response = _send(client, routes["update_map"], _nest(shape, 10_000))
    _assert_error(response, 400, "invalid_request")
    assert "nested deeper" in body(response)["message"] or shape == "unclosed"
    assert _stored(sql) == before


@pytest.mark.parametrize("route_name", ["login", "create_user", "update_user", "create_map"])
def test_deep_json_from_a_guest_never_reaches_the_parser_as_a_500(client, sql, routes, route_name):
    before = _stored(sql)
    response = _send(client, routes[route_name], _nest("arrays", 30_000), headers={})
    expected = (400, "invalid_request") if route_name == "login" else (401, "unauthorized")
    _assert_error(response, *expected)
    assert _stored(sql) == before


def test_brackets_in_strings_are_not_nesting(client, routes):
    title, description = "[" * 100 + "{" * 90 + '\\"[[', "[{" * 2400
    doc = {"filename": "brackets.tif", "size": 10, "title": title, "description": description}
    response = _send(client, routes["create_map"], json.dumps(doc))
    assert response.status_code == 201, response.body
    assert body(response)["map"]["title"] == title
    assert body(response)["map"]["description"] == description


def test_nesting_up_to_the_limit_is_judged_on_its_fields(client, routes):
    value = _nest("arrays", MAX_JSON_DEPTH - 1).decode()  # the body object adds one level
    raw = '{"filename": "a.tif", "size": 10, "title": ' + value + "}"
    response = _send(client, routes["create_map"], raw)
    _assert_error(response, 400, "invalid_request")
    assert body(response)["message"] == "title: must be a string."


# Numbers no field takes, on every JSON route: past 4300 digits Python's int() raises with
# interpreter advice ("use sys.set_int_max_str_digits()"), which must never reach an answer.
LONG_NUMBERS = [
    "1" + "0" * 5000,
    "-" + "9" * 4301,
    "1" * (MAX_NUMBER_DIGITS + 1),
    "0." + "3" * 5000,
    "1e" + "9" * 5000,
    "-1.5E-" + "0" * 4999 + "1",
]


@pytest.mark.parametrize(
    "route_name",
    ["login", "create_user", "update_user", "create_map", "update_map", "part_urls", "complete",
     "stac_search"],
)  # fmt: skip
@pytest.mark.parametrize("number", LONG_NUMBERS, ids=lambda n: f"{n[:6]}…{len(n)}")
def test_numbers_with_too_many_digits_are_400_on_every_json_route(
    client, sql, routes, route_name, number
):
    before = _stored(sql)
    for raw in ('{"title": %s}' % number, "[1, %s]" % number, number):  # noqa: UP031
        response = _send(client, routes[route_name], raw.encode())
        _assert_error(response, 400, "invalid_request")
        said = body(response)["message"]
        assert said == f"body: a number has more than {MAX_NUMBER_DIGITS} digits.", raw[:40]
    assert _stored(sql) == before


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (
            b'{"title": 1e400, }',
            "body: not valid JSON at line 1 column 18 (expecting property "
            "name enclosed in double quotes).",
        ),
        (
            b'{"title": "a"}\n{"title": "b"}',
            "body: not valid JSON at line 2 column 1 (extra data).",
        ),
        (b'{"title": "a", "title": "b"}', "body: the key 'title' is given twice."),
        (b'{"title": Infinity}', "body: Infinity is not JSON."),
        (b'{"title": "\xff"}', "body: not valid UTF-8 (at byte 12)."),
    ],
)
def test_json_that_does_not_parse_is_said_in_plain_words(client, routes, raw, said):
    response = _send(client, routes["update_map"], raw)
    _assert_error(response, 400, "invalid_request")
    assert body(response)["message"] == said


def test_numbers_python_makes_infinite_are_judged_as_fields(client, sql, routes):
    before = _stored(sql)
    for route_name in ("update_map", "create_map", "stac_search", "part_urls"):
        for raw in (b'{"title": 1e400}', b'{"size": -1e400, "limit": 1e999}'):
            response = _send(client, routes[route_name], raw)
            assert 400 <= response.status_code < 500, (route_name, raw, response.body)
            assert not body(response)["message"].startswith("body:"), body(response)
    assert _stored(sql) == before


# Digits other than ASCII: str.isdigit() is true for "²" (int() then fails) and int() takes
# fullwidth, Arabic-Indic, Devanagari or mathematical digits.
NOT_ASCII_INTEGERS = [
    "\u00b2",  # superscript two
    "\u00b9\u2070",  # superscript 10
    "\uff11\uff12",  # fullwidth 12
    "\u0661\u0662",  # Arabic-Indic 12
    "\u06f1\u06f2",  # extended Arabic-Indic (Persian) 12
    "\u0967\u0968",  # Devanagari 12
    "\U0001d7d3",  # mathematical bold 5
    "1\u0662",  # mixed
    "-5",
    "+5",
    " 5",
    "5 ",
    "1_0",
    "0x10",
    "1e1",
    "5.0",
    "9" * 30,
    "9" * 400,
]


@pytest.mark.parametrize("value", NOT_ASCII_INTEGERS)
def test_browse_limit_takes_ascii_digits_only(client, value):
    response = client.http.get(f"/v1/maps?limit={quote(value)}")
    _assert_error(response, 400, "invalid_request")
    assert body(response)["message"] == "limit: must be an integer from 1 to 100."


@pytest.mark.parametrize(
    "box",
    [
        "\uff11,0,2,2",
        "\u0661,0,2,2",
        "\u0967,0,2,2",
        "1_0,0,20,5",
        " 1,0,2,2",
        "1,0,2,2 ",
        "1e1,0,20,5",
        "+1,0,2,2",
        "0x1,0,2,2",
        "inf,0,1,1",
        "1,,2,2",
        ".,0,1,1",
    ],
)
def test_browse_bbox_takes_ascii_numbers_only(client, box):
    response = client.http.get(f"/v1/maps?bbox={quote(box)}")
    _assert_error(response, 400, "invalid_request")
    assert body(response)["message"].startswith("bbox:")


def test_browse_accepts_ascii_numbers(client):
    assert client.http.get("/v1/maps?limit=007").status_code == 200
    assert client.http.get("/v1/maps?bbox=-1.5,-.5,1.,0.5").status_code == 200


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"filename": "a.tif", "size": \uff11\uff12}', "body"),
        ('{"filename": "a.tif", "size": \u0661\u0662}', "body"),
        ('{"filename": "a.tif", "size": "\uff11\uff12"}', "size"),
        ('{"filename": "a.tif", "size": "12"}', "size"),
        ('{"filename": "a.tif", "size": 1e400}', "size"),
        ('{"filename": "a.tif", "size": 1e2}', "size"),
        ('{"filename": "a.tif", "size": 9223372036854775808}', "size"),
        ('{"filename": "a.tif", "size": -9223372036854775809}', "size"),
        ('{"filename": "a.tif", "size": ' + "9" * 5000 + "}", "body"),
    ],
)
def test_presigned_size_takes_json_integers_only(client, sql, routes, raw, field):
    before = _stored(sql)
    response = _send(client, routes["create_map"], raw.encode())
    _assert_error(response, 400, "invalid_request")
    assert body(response)["message"].startswith(f"{field}:")
    assert _stored(sql) == before


# Times: offsets PostgreSQL refuses (16 h and over) or Python refuses (24 h and over), years
# outside 1970-9999 before or after conversion to UTC, what PostgreSQL would take but this API
# does not mean (infinity, leap seconds), and impossible or non-ASCII dates.
BAD_TIMES = [
    "2020-01-01T00:00:00+23:59",
    "2020-01-01T00:00:00-23:59",
    "2020-01-01T00:00:00+16:00",
    "2020-01-01T00:00:00-16:00",
    "2020-01-01T00:00:00+15:59:59.5",
    "2020-01-01T00:00:00+24:00",
    "2020-01-01T00:00:00-24:00",
    "0000-01-01",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:30:00+01:00",
    "10000-01-01",
    "10000-01-01T00:00:00Z",
    "9999-12-31T23:00:00-05:00",
    "infinity",
    "-infinity",
    "NaN",
    "2020-12-31T23:59:60Z",
    "2021-02-30",
    "2021-02-30T00:00:00Z",
    "2030-13-01",
    "2030-01-01T24:00:00Z",
    "\uff12\uff10\uff13\uff10-01-01",
    "2030-01-01T00:00:00+0\uff11:00",
    "now",
    "epoch",
    "",
]


@pytest.mark.parametrize("when", BAD_TIMES)
def test_create_user_refuses_times_out_of_range(client, sql, routes, when):
    before = _stored(sql)
    doc = {"username": "newbie", "password": "long enough pw", "active_until": when}
    response = _send(client, routes["create_user"], json.dumps(doc))
    _assert_error(response, 400, "invalid_request")
    assert body(response)["message"].startswith("active_until:")
    assert _stored(sql) == before


@pytest.mark.parametrize("when", BAD_TIMES)
def test_update_user_refuses_times_out_of_range(client, sql, routes, when):
    before = _stored(sql)
    response = _send(client, routes["update_user"], json.dumps({"active_until": when}))
    _assert_error(response, 400, "invalid_request")
    assert body(response)["message"].startswith("active_until:")
    assert _stored(sql) == before


@pytest.mark.parametrize("when", BAD_TIMES)
def test_cursor_refuses_times_out_of_range(client, routes, when):
    map_id = routes["update_map"][1].rsplit("/", 1)[1]
    cursor = encode_cursor({"created_at": when, "id": map_id})
    response = client.http.get(f"/v1/maps?cursor={cursor}")
    _assert_error(response, 400, "invalid_request")
    assert body(response)["message"] == "cursor: not a cursor from next_cursor."


@pytest.mark.parametrize(
    ("when", "stored"),
    [
        ("2030-01-01T00:00:00+15:59", "2029-12-31T08:01:00.000000Z"),
        ("2030-01-01T00:00:00-15:59", "2030-01-01T15:59:00.000000Z"),
        ("2030-01-01T00:00:00+05:30:15.25", "2029-12-31T18:29:44.750000Z"),
        ("9999-12-31T23:00:00+05:00", "9999-12-31T18:00:00.000000Z"),
        ("1970-01-01T00:00:00-01:00", "1970-01-01T01:00:00.000000Z"),
        ("2030-06-01", "2030-06-01T00:00:00.000000Z"),
        ("2030-06-01T12:00:00", "2030-06-01T12:00:00.000000Z"),
        ("2030-06-01T12:00:00Z", "2030-06-01T12:00:00.000000Z"),
    ],
)
def test_times_in_range_are_stored_as_the_same_instant(client, routes, when, stored):
    response = _send(client, routes["update_user"], json.dumps({"active_until": when}))
    assert response.status_code == 200, response.body
    assert body(response)["active_until"] == stored


def test_cursor_with_the_same_instant_in_another_offset_gives_the_same_page(client, users):
    users.create("alice")
    alice = users.headers("alice")
    for i in range(3):
        payload, content_type = multipart({}, (f"m{i}.geojson", GEOJSON))
        client.http.post("/v1/maps", headers={**alice, "Content-Type": content_type}, body=payload)
    first = body(client.http.get("/v1/maps?limit=1", headers=alice))
    after, map_id = decode_cursor(first["next_cursor"])
    shifted = after.astimezone(dt.timezone(dt.timedelta(hours=-9, minutes=-30))).isoformat()
    assert not shifted.endswith(("Z", "+00:00"))
    pages = [
        body(client.http.get(f"/v1/maps?limit=1&cursor={cursor}", headers=alice))
        for cursor in (first["next_cursor"], encode_cursor({"created_at": shifted, "id": map_id}))
    ]
    assert pages[0]["items"] and pages[0] == pages[1]


# What hides or reorders text: bidi embeddings, overrides and isolates, marks, zero-width
# characters, word joiner and invisible operators, BOM, soft hyphen, Mongolian vowel separator,
# line and paragraph separators, tags, interlinear annotation, deprecated format characters,
# and C1 controls. "invoice\u202egpj.exe" shows as "invoiceexe.jpg".
HIDDEN = [
    *(chr(c) for c in range(0x202A, 0x202F)),
    *(chr(c) for c in range(0x2066, 0x206A)),
    *(chr(c) for c in range(0x200B, 0x2010)),
    *(chr(c) for c in range(0x2060, 0x2065)),
    "\u206a",
    "\ufeff",
    "\u061c",
    "\u180e",
    "\u00ad",
    "\u2028",
    "\u2029",
    "\ufff9",
    "\U000e0041",
    "\u0085",
    "\u009b",
]


def _upload_multipart(client, headers, filename="m.geojson", **fields):
    payload, content_type = multipart(fields, (filename, GEOJSON))
    return client.http.post(
        "/v1/maps", headers={**headers, "Content-Type": content_type}, body=payload
    )


def _upload_raw(client, headers, filename="m.geojson", **fields):
    query = "&".join(
        f"{k}={quote(v, safe='')}" for k, v in {"filename": filename, **fields}.items()
    )
    return client.http.post(
        f"/v1/maps?{query}",
        headers={**headers, "Content-Type": "application/octet-stream"},
        body=GEOJSON,
    )


def _presign(client, headers, filename="m.geojson", **fields):
    doc = {"filename": filename, "size": 10, **fields}
    return client.http.post("/v1/maps", headers={**headers, **_JSON}, body=json.dumps(doc))


# target -> (field named in the error, how to send a text in it)
DISPLAY_TARGETS = {
    "multipart filename": ("filename", lambda c, h, m, t: _upload_multipart(c, h, t)),
    "raw ?filename=": ("filename", lambda c, h, m, t: _upload_raw(c, h, t)),
    "presigned filename": ("filename", lambda c, h, m, t: _presign(c, h, t)),
    "multipart title": ("title", lambda c, h, m, t: _upload_multipart(c, h, title=t)),
    "raw ?title=": ("title", lambda c, h, m, t: _upload_raw(c, h, title=t)),
    "presigned title": ("title", lambda c, h, m, t: _presign(c, h, title=t)),
    "multipart description": (
        "description",
        lambda c, h, m, t: _upload_multipart(c, h, description=t),
    ),
    "raw ?description=": ("description", lambda c, h, m, t: _upload_raw(c, h, description=t)),
    "presigned description": ("description", lambda c, h, m, t: _presign(c, h, description=t)),
    "PATCH title": (
        "title",
        lambda c, h, m, t: c.http.patch(m, headers={**h, **_JSON}, body=json.dumps({"title": t})),
    ),
    "PATCH description": (
        "description",
        lambda c, h, m, t: c.http.patch(
            m, headers={**h, **_JSON}, body=json.dumps({"description": t})
        ),
    ),
}


@pytest.mark.parametrize("target", list(DISPLAY_TARGETS))
def test_hidden_and_bidi_characters_are_refused_in_what_people_see(client, sql, routes, target):
    field, send = DISPLAY_TARGETS[target]
    _, map_path, alice = routes["update_map"]
    before = _stored(sql)
    for char in HIDDEN:
        text = f"invoice{char}gpj.geojson" if field == "filename" else f"Trail{char}map"
        response = send(client, alice, map_path, text)
        assert response.status_code == 400, (target, f"U+{ord(char):04X}", response.body)
        _assert_error(response, 400, "invalid_request")
        message = body(response)["message"]
        assert message.startswith((f"{field}:", f"query {field}:")), (target, message)
        assert f"U+{ord(char):04X}" in message or "control characters" in message, message
    assert _stored(sql) == before


@pytest.mark.parametrize(
    "text",
    [
        "\u0646\u0642\u0634\u0647\u200c\u0647\u0627",  # Persian "maps": ZWNJ inside a word
        "\u0915\u094d\u200d\u0937",  # Devanagari half form: ZWJ after a virama
        "\U0001f469\u200d\U0001f4bb maps",  # an emoji ZWJ sequence
        "\U0001f469\U0001f3fd\u200d\U0001f4bb maps",  # ... with a skin tone
        "Carte d'\u00e9t\u00e9 \u2013 \u5317\u6d77\u9053",
    ],
)
def test_joiners_that_spell_words_are_kept(client, routes, text):
    _, map_path, alice = routes["update_map"]
    created = _upload_multipart(client, alice, f"{text}.geojson", title=text, description=text)
    assert created.status_code == 201, created.body
    doc = body(created)["map"]
    assert (doc["filename"], doc["title"], doc["description"]) == (f"{text}.geojson", text, text)
    patched = client.http.patch(
        map_path, headers={**alice, **_JSON}, body=json.dumps({"title": text})
    )
    assert patched.status_code == 200, patched.body
    assert body(patched)["title"] == text


def test_descriptions_keep_newlines_and_tabs(client, routes):
    _, map_path, alice = routes["update_map"]
    text = "Line one\n\tindented\r\nline three"
    response = client.http.patch(
        map_path, headers={**alice, **_JSON}, body=json.dumps({"description": text})
    )
    assert response.status_code == 200, response.body
    assert body(response)["description"] == text


def test_rfc5987_filename_cannot_override_the_plain_one(client, sql, routes):
    """RFC 7578 forbids filename*= in forms; the parser ignores it, so it cannot smuggle in a
    name the plain filename= would have been refused for."""
    _, _, alice = routes["update_map"]
    boundary = "----mapstock-rfc5987"
    spoofed = quote("invoice\u202egpj.exe", safe="")
    disposition = f'form-data; name="file"; filename="plain.geojson"; filename*=UTF-8\'\'{spoofed}'
    payload = (
        f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        + GEOJSON
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = client.http.post(
        "/v1/maps",
        headers={**alice, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        body=payload,
    )
    assert response.status_code == 201, response.body
    assert body(response)["map"]["filename"] == "plain.geojson"


def test_a_value_the_driver_cannot_send_leaves_the_connection_in_step(client, users):
    """pg8000 encoded parameters after it had sent half the exchange: a value it could not
    encode left replies unread, and the next call on the connection read them as its own.
    Arguments are now SQL literals built before anything is sent: the same value is an
    ordinary timestamptz to PostgreSQL, and the connection stays in step."""
    from chalicelib import db

    users.create("alice")
    args = {
        "p_caller": None,
        "p_token_version": None,
        "p_limit": 5,
        "p_after_id": None,
        "p_q": None,
        "p_format": None,
        "p_visibility": None,
        "p_owner": None,
        "p_status": None,
        "p_bbox": None,
    }
    year_10000 = dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(-dt.timedelta(hours=5)))
    page = db.call("api.browse_maps", **args, p_after_created=year_10000)
    assert page == {"items": [], "next": None}
    assert db.call("api.browse_maps", **args, p_after_created=None) == {"items": [], "next": None}
    response = client.http.get("/v1/me", headers=users.headers("alice"))
    assert response.status_code == 200
    assert body(response)["username"] == "alice"


@pytest.mark.parametrize(
    "path",
    ["/v1/maps?limit=" + "9" * 5000, "/v1/maps?bbox=" + ",".join(["1" + "0" * 1000] * 4)],
    ids=["limit", "bbox"],
)
def test_browse_numbers_with_thousands_of_digits_are_400(client, path):
    response = client.http.get(path)
    _assert_error(response, 400, "invalid_request")
    assert "sys." not in body(response)["message"]


@pytest.mark.parametrize("path", ["/stac/search", "/stac/collections/COLLECTION/items"])
def test_a_stac_limit_of_thousands_of_digits_is_the_largest_page(client, path):
    from chalicelib.web.stac.documents import COLLECTIONS
    from chalicelib.web.stac.params import MAX_LIMIT, _limit

    path = path.replace("COLLECTION", next(iter(COLLECTIONS)))
    host = {"Host": "maps.example"}  # STAC links are built with it
    response = client.http.get(f"{path}?limit={'9' * 5000}", headers=host)
    assert response.status_code == 200, response.body
    assert body(response)["type"] == "FeatureCollection"
    zero = client.http.get(f"{path}?limit={'0' * 5000}", headers=host)
    _assert_error(zero, 400, "invalid_request")
    assert (_limit("9" * 5000), _limit("0" * 5000 + "7"), _limit("101")) == (MAX_LIMIT, 7, 100)
