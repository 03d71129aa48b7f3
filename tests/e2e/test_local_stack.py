"""`make run` end to end: CLI, HTTP API, presigned S3 POST, event pump, processing, shutdown."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.postgres import port_in_use
from devstack.procs import pid_alive
from tests.e2e.stack import LocalStack

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
FINAL = {"ready", "rejected", "failed"}


def geojson_map() -> bytes:
    features = [
        {
            "type": "Feature",
            "properties": {"name": f"cairn {i}"},
            "geometry": {"type": "Point", "coordinates": [7.0 + i / 100, 46.0 + i / 200]},
        }
        for i in range(50)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def png_map(min_bytes: int = 4 * 1024 * 1024 + 1) -> bytes:
    """A noisy scan: noise does not compress, so the PNG stays over the direct-upload limit."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(7).integers(0, 256, (1200, 1200, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="PNG", compress_level=1)
    data = out.getvalue()
    assert len(data) >= min_bytes
    return data


def session() -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # loopback only: never through a proxy from the environment
    return http


def login(stack: LocalStack, username: str) -> dict[str, str]:
    response = session().post(
        f"{stack.url}/v1/auth/token", json={"username": username, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def create_member(stack: LocalStack, username: str) -> None:
    result = stack.cli("user", "create", username, "--days", "30", password=PASSWORD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"created user {username}")


def wait_final(stack: LocalStack, map_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        doc = session().get(f"{stack.url}/v1/maps/{map_id}", headers=headers, timeout=10).json()
        if doc["status"] in FINAL or time.monotonic() > deadline:
            return dict(doc)
        time.sleep(0.1)


def download(stack: LocalStack, map_id: str, headers: dict[str, str]) -> bytes:
    """Through the API's 302, then straight from (local) S3 without the API's token."""
    http = session()
    response = http.get(
        f"{stack.url}/v1/maps/{map_id}/download", headers=headers, allow_redirects=False, timeout=10
    )
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith("http://127.0.0.1:")
    got = http.get(location, timeout=30)
    assert got.status_code == 200
    return got.content


def test_upload_process_download_share(local_stack: LocalStack) -> None:
    stack, http = local_stack, session()
    owner, peer = f"alice{uuid.uuid4().hex[:6]}", f"bob{uuid.uuid4().hex[:6]}"
    create_member(stack, owner)
    create_member(stack, peer)
    headers = login(stack, owner)

    small = geojson_map()
    direct = http.post(
        f"{stack.url}/v1/maps",
        headers=headers,
        files={"file": ("cairns.geojson", small, "application/geo+json")},
        data={"title": "Cairns"},
        timeout=30,
    )
    assert direct.status_code == 201, direct.text
    small_id = direct.json()["map"]["id"]

    large = png_map()
    digest = hashlib.sha256(large).hexdigest()
    created = http.post(
        f"{stack.url}/v1/maps",
        headers=headers,
        json={"filename": "scan.png", "size": len(large), "sha256": digest},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    large_id, upload = created.json()["map"]["id"], created.json()["upload"]
    posted = http.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("scan.png", large, "image/png")},
        timeout=60,
    )
    assert posted.status_code in (200, 201, 204), posted.text

    for map_id, data, kind in ((small_id, small, "geojson"), (large_id, large, "png")):
        doc = wait_final(stack, map_id, headers)
        assert doc["status"] == "ready", doc
        assert doc["format"] == kind
        assert doc["size"] == len(data)
        assert doc["sha256"] == hashlib.sha256(data).hexdigest()
        got = download(stack, map_id, headers)
        assert hashlib.sha256(got).hexdigest() == doc["sha256"]
        assert got == data

    shared = http.patch(
        f"{stack.url}/v1/maps/{small_id}", headers=headers, json={"visibility": "members"}
    )
    assert shared.status_code == 200, shared.text
    assert shared.json()["visibility"] == "members"

    peer_headers = login(stack, peer)
    assert http.get(f"{stack.url}/v1/maps/{small_id}", headers=peer_headers).status_code == 200
    assert download(stack, small_id, peer_headers) == small
    assert http.get(f"{stack.url}/v1/maps/{large_id}", headers=peer_headers).status_code == 404
    assert http.get(f"{stack.url}/v1/maps/{small_id}").status_code == 404  # guest
    assert http.get(f"{stack.url}/v1/maps/{large_id}").status_code == 404


def test_api_and_pumps_each_connect_with_their_own_role(local_stack: LocalStack) -> None:
    """As deployed: routes run as mapstock_api's login, the event handlers as
    mapstock_pipeline's; the owner's URL (env.json) is the CLI's alone."""
    from chalicelib.db import connect

    stack, http = local_stack, session()
    owner = f"carol{uuid.uuid4().hex[:6]}"
    create_member(stack, owner)
    headers = login(stack, owner)
    direct = http.post(
        f"{stack.url}/v1/maps",
        headers=headers,
        files={"file": ("cairns.geojson", geojson_map(), "application/geo+json")},
        timeout=30,
    )
    assert direct.status_code == 201, direct.text
    assert wait_final(stack, direct.json()["map"]["id"], headers)["status"] == "ready"
    pids = stack.run_files()["pids"]
    owner_url = json.loads((stack.state / "run" / "env.json").read_text())["DATABASE_URL"]
    conn = connect(owner_url)
    try:
        # Who the processes' pooled connections (kept open between calls) log in as.
        rows = conn.run(
            "SELECT a.usename::text, array_agg(DISTINCT g.rolname::text) "
            "FROM pg_stat_activity a JOIN pg_roles u ON u.rolname = a.usename "
            "LEFT JOIN pg_auth_members m ON m.member = u.oid "
            "LEFT JOIN pg_roles g ON g.oid = m.roleid "
            "WHERE a.application_name = 'mapstock' AND a.pid <> pg_backend_pid() "
            "GROUP BY a.usename"
        )
    finally:
        conn.close()
    assert dict(rows) == {
        "mapstock_local_api": ["mapstock_api"],
        "mapstock_local_pipeline": ["mapstock_pipeline"],
    }

    def environ(name: str) -> dict[str, str]:
        raw = Path(f"/proc/{pids[name]}/environ").read_bytes().split(b"\0")
        pairs = (item.decode().split("=", 1) for item in raw if b"=" in item)
        return {k: v for k, v in pairs if k.endswith("DATABASE_URL")}

    api = environ("API (chalice local)")
    assert list(api) == ["DATABASE_URL"]
    assert api["DATABASE_URL"].startswith("postgresql://mapstock_local_api:")
    for pump in ("event pump (S3, schedules)", "event pump (SQS)"):
        env = environ(pump)
        assert list(env) == ["PIPELINE_DATABASE_URL"], pump
        assert env["PIPELINE_DATABASE_URL"].startswith("postgresql://mapstock_local_pipeline:")


def _pieces(data: bytes, size: int = 1000) -> Iterator[bytes]:
    """The body as a generator: requests sends it with Transfer-Encoding: chunked."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_chunked_request_bodies_reach_the_app_whole(local_stack: LocalStack) -> None:
    """API Gateway takes chunked requests and hands Lambda the whole body; so does `make run`
    (chalice local read only Content-Length bytes: an empty body, 400 from the app)."""
    from urllib3.filepost import encode_multipart_formdata

    stack, http = local_stack, session()
    owner = f"dave{uuid.uuid4().hex[:6]}"
    create_member(stack, owner)
    credentials = json.dumps({"username": owner, "password": PASSWORD}).encode()
    token = http.post(
        f"{stack.url}/v1/auth/token",
        headers={"Content-Type": "application/json"},
        data=_pieces(credentials, 7),
        timeout=30,
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    small = geojson_map()
    form, content_type = encode_multipart_formdata(
        {"title": "Chunked cairns", "file": ("cairns.geojson", small, "application/geo+json")}
    )
    sent = http.post(
        f"{stack.url}/v1/maps",
        headers={**headers, "Content-Type": content_type},
        data=_pieces(form),
        timeout=30,
    )
    assert sent.request.headers.get("Transfer-Encoding") == "chunked"
    assert sent.status_code == 201, sent.text
    doc = wait_final(stack, sent.json()["map"]["id"], headers)
    assert (doc["status"], doc["title"], doc["size"]) == ("ready", "Chunked cairns", len(small))


def _raw(stack: LocalStack, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes on a fresh connection; the status, headers and body of the answer."""
    import http.client
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(stack.url)
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        sock.sendall(request)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()


def test_chunked_bodies_over_the_limit_or_malformed_are_refused_in_the_error_shape(
    local_stack: LocalStack,
) -> None:
    from devstack.api_server import FORM_OVERHEAD

    limit = 4 * 1024 * 1024 + FORM_OVERHEAD  # the stack's MAX_DIRECT_UPLOAD_BYTES + the form's
    head = (
        b"POST /v1/maps HTTP/1.1\r\nHost: local\r\nContent-Type: application/octet-stream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    # One chunk declared past the limit: refused before a byte of it is sent (nothing buffered).
    status, headers, body = _raw(local_stack, head + b"%x\r\n" % (limit + 1))
    assert status == 413
    error = json.loads(body)
    assert set(error) == {"code", "message", "request_id"} and error["code"] == "too_large"
    assert headers["x-request-id"] == error["request_id"]
    assert headers["connection"] == "close"
    # Many small chunks adding up past it: refused as soon as the sum passes it.
    piece = b"x" * 65536
    chunks = (b"%x\r\n" % len(piece) + piece + b"\r\n") * (limit // len(piece) + 1)
    status, _, body = _raw(local_stack, head + chunks)
    assert (status, json.loads(body)["code"]) == (413, "too_large")
    for broken in (b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcdef\r\n0\r\n\r\n"):
        status, _, body = _raw(local_stack, head + broken)
        assert (status, json.loads(body)["code"]) == (400, "invalid_request"), broken
    # Within the limit, the app decides: no token, 401 (its own check, on the whole body).
    status, _, body = _raw(local_stack, head + b"3\r\nabc\r\n0\r\n\r\n")
    assert (status, json.loads(body)["code"]) == (401, "unauthorized")


def test_head_on_api_routes_is_get_without_a_body_on_one_kept_alive_connection(
    local_stack: LocalStack,
) -> None:
    """`curl -I` on a map, its download link, a STAC item and an error: GET's status and
    headers, no body (one sent would be read as the start of the next answer on the same
    connection), and a HEAD on the download link counts no download."""
    stack = local_stack
    owner = f"hedy{uuid.uuid4().hex[:6]}"
    create_member(stack, owner)
    headers = login(stack, owner)
    created = session().post(
        f"{stack.url}/v1/maps",
        headers=headers,
        files={"file": ("cairns.geojson", geojson_map(), "application/geo+json")},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    map_id = created.json()["map"]["id"]
    assert wait_final(stack, map_id, headers)["status"] == "ready"

    connection = http.client.HTTPConnection(stack.url.split("//", 1)[1], timeout=30)
    try:
        for path, sent in (
            (f"/v1/maps/{map_id}", headers),
            (f"/v1/maps/{map_id}/download", headers),
            (f"/v1/maps/{map_id}/download?redirect=false", headers),
            (f"/stac/collections/geojson/items/{map_id}", headers),
            (f"/v1/maps/{map_id}", {}),  # private: 404 for a guest
            ("/v1/me", {}),  # 401
        ):
            connection.request("HEAD", path, headers={**sent, "Accept-Encoding": "gzip"})
            head = connection.getresponse()
            assert head.read() == b"", path
            connection.request("GET", path, headers={**sent, "Accept-Encoding": "identity"})
            got = connection.getresponse()
            data = got.read()
            assert head.status == got.status, (path, head.status, got.status)
            assert head.getheader("Content-Length") == str(len(data)), path
            assert head.getheader("Content-Type") == got.getheader("Content-Type"), path
            assert head.getheader("Cache-Control") == got.getheader("Cache-Control"), path
            if got.status == 302:  # the same object (signed a second apart at most)
                assert (
                    head.getheader("Location").split("?")[0]
                    == (got.getheader("Location").split("?")[0])
                )
        connection.request("GET", f"/v1/maps/{map_id}", headers=headers)  # still in step
        doc = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    assert doc["download_count"] == 2  # the two GETs of the download link, not the HEADs


def test_a_query_in_raw_utf8_is_read_as_utf8(local_stack: LocalStack) -> None:
    """curl sends `?q=地図` unencoded; API Gateway reads it as UTF-8, and so does `make run`."""
    stack = local_stack
    owner = f"chizu{uuid.uuid4().hex[:6]}"
    create_member(stack, owner)
    headers = login(stack, owner)
    made = session().post(
        f"{stack.url}/v1/maps",
        headers=headers,
        data={"title": "地図 of cairns"},
        files={"file": ("chizu.geojson", geojson_map(), "application/geo+json")},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    map_id = made.json()["map"]["id"]
    auth = f"Authorization: {headers['Authorization']}\r\n".encode()

    def get(target: bytes) -> tuple[int, Any]:
        request = b"GET " + target + b" HTTP/1.1\r\nHost: local\r\n" + auth + b"\r\n"
        status, _, body = _raw(stack, request)
        return status, json.loads(body)

    for target in ("/v1/maps?owner=me&q=地図".encode(), b"/v1/maps?owner=me&q=%E5%9C%B0%E5%9B%B3"):
        status, page = get(target)
        assert status == 200, page
        assert [m["id"] for m in page["items"]] == [map_id], target
    status, page = get("/v1/maps?owner=me&q=海図".encode())
    assert (status, page["items"]) == (200, [])
    status, page = get("/stac/search?ids=地図".encode())
    assert (status, page["type"], page["features"]) == (200, "FeatureCollection", [])
    status, page = get("/v1/maps/地図".encode())
    assert (status, page["code"]) == (404, "not_found")
    for target in (b"/v1/maps?q=\xff\xfe", b"/v1/maps/\xe5\x9c"):  # not UTF-8
        status, error = get(target)
        assert status == 400, error
        assert set(error) == {"code", "message", "request_id"}
        assert error["code"] == "invalid_request"
        assert error["message"] == (
            "The request's path or query is not UTF-8: percent-encode it as UTF-8."
        )


def test_stop_leaves_nothing_running(local_stack: LocalStack) -> None:
    run = local_stack.run_files()
    pids, ports = run["pids"], run["ports"]
    started = {"orchestrator", "S3/SQS (moto)", "API (chalice local)"}
    started |= {"event pump (S3, schedules)", "event pump (SQS)"}
    assert started <= set(pids)
    assert all(pid_alive(pid) for pid in pids.values())

    assert local_stack.stop() == 0, local_stack.tail()

    assert [name for name, pid in pids.items() if pid_alive(pid)] == []
    assert [port for port in ports if port_in_use(port)] == []
    assert not (local_stack.state / "run" / "env.json").exists()
    assert "Stopped." in local_stack.tail()
