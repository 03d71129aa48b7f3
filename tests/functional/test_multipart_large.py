"""Multipart uploads with as many parts as S3 allows: the completion lists every part, so its
body is far longer than other JSON bodies, and must still be taken (from the API and from the
mapstock client), while every other route keeps the 64 KiB limit."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import requests

from chalicelib.web.request import MAX_COMPLETE_JSON_BYTES, MAX_JSON_BYTES, MAX_JSON_DEPTH
from chalicelib.web.routes.multipart import MAX_PARTS, part_size_for
from tests.conftest import BUCKET, TEST_PART_BYTES, body
from tests.functional.test_multipart import _create, _data, _urls

TINY_PART = 16  # bytes: thousands of parts of a real upload stay small
# Real parts sent to moto: past the 1,088 of the reviewer's 18 GB upload, and past one page
# of S3's part list (1,000). All 10,000 take about a minute in moto (run once, it passed):
# the 10,000-part body is tested below without bytes.
REAL_PARTS = 1_100


class ChaliceTransport(httpx.BaseTransport):
    """httpx requests answered by the Chalice test client: the mapstock client's own request
    bodies reach the real routes."""

    def __init__(self, client):
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.client.http.request(
            request.method,
            request.url.raw_path.decode(),
            headers=dict(request.headers),
            body=request.read(),
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.body)


@pytest.fixture(autouse=True)
def no_upload_left(s3):
    """The bucket outlives each test (and others check it holds no unfinished upload): the
    uploads these tests leave open are aborted."""
    yield
    for upload in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])


@pytest.fixture
def tiny_parts(monkeypatch):
    """Parts of TINY_PART bytes, in the app and in moto (S3 wants 5 MiB, tests 64 KiB)."""
    import moto.s3.models

    from chalicelib import config

    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", TINY_PART)
    monkeypatch.setenv("MULTIPART_PART_BYTES", str(TINY_PART))
    config.get_settings.cache_clear()
    yield TINY_PART
    monkeypatch.setenv("MULTIPART_PART_BYTES", str(TEST_PART_BYTES))
    config.get_settings.cache_clear()


def _send_all(pipeline, map_id, headers, data, part_size):
    """Every part, through the API's part URLs (100 a call), 8 PUTs at a time; their ETags."""
    count = -(-len(data) // part_size)
    urls: dict[int, str] = {}
    for first in range(1, count + 1, 100):
        numbers = list(range(first, min(first + 100, count + 1)))
        urls.update({n: p["url"] for n, p in _urls(pipeline, map_id, headers, numbers).items()})
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=8))

    def put(n: int) -> tuple[int, str]:
        chunk = data[(n - 1) * part_size : n * part_size]
        response = session.put(urls[n], data=chunk, timeout=30)
        assert response.status_code == 200, response.text
        return n, response.headers["ETag"].strip('"')

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(put, range(1, count + 1)))


def test_the_mapstock_client_completes_an_upload_of_more_than_a_thousand_parts(
    pipeline, users, tiny_parts, s3
):
    """Real bytes in 1,100 parts, completed by the mapstock client's own request (was 413 past
    ~1,040 parts: the 64 KiB JSON limit)."""
    from mapstock_client.api import Api
    from mapstock_client.upload import complete

    users.create("alice")
    alice = users.headers("alice")
    data = _data((REAL_PARTS * tiny_parts - 2000) / TEST_PART_BYTES)
    data += b" " * (REAL_PARTS * tiny_parts - len(data))  # REAL_PARTS full parts
    assert part_size_for(len(data), tiny_parts) == tiny_parts
    created = _create(pipeline, alice, data)
    assert created.status_code == 201, created.body
    assert body(created)["upload"]["part_count"] == REAL_PARTS
    map_id = body(created)["map"]["id"]
    etags = _send_all(pipeline, map_id, alice, data, tiny_parts)

    api = Api("http://api.test", users.token("alice"))
    api.http = httpx.Client(
        base_url="http://api.test",
        headers=dict(api.http.headers),
        transport=ChaliceTransport(pipeline.client),
    )
    doc = complete(api, map_id, etags)
    assert (doc["id"], doc["status"], doc["size"]) == (map_id, "uploaded", len(data))
    head = s3.head_object(Bucket=BUCKET, Key=f"maps/{map_id}/original")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith(f"-{REAL_PARTS}")
    pipeline.deliver_s3(map_id)
    assert pipeline.process_all() == {"batchItemFailures": []}
    assert body(pipeline.get(map_id, alice))["status"] == "ready"


def _worst_case_completion(count: int) -> bytes:
    """The longest completion a client sends for `count` parts: json.dumps' default spaces,
    ETags with their quotes, and every part's checksum."""
    parts = [
        {"part_number": n, "etag": f'"{n:032x}"', "checksum_sha256": "A" * 43 + "="}
        for n in range(1, count + 1)
    ]
    return json.dumps({"parts": parts}).encode()


def test_the_longest_completion_of_ten_thousand_parts_is_read_whole(pipeline, users):
    """The largest legal part count (10,000, declared at the tests' 64 KiB parts; no bytes
    sent): the longest body a client sends for it (1.39 MB) is parsed to its end and checked
    part by part against S3 (which holds none), not refused 413."""
    users.create("alice")
    alice = users.headers("alice")
    size = MAX_PARTS * TEST_PART_BYTES
    created = pipeline.create_presigned(
        alice, filename="ortho.tif", size=size, checksum_algorithm="SHA256"
    )
    assert created.status_code == 201, created.body
    upload = body(created)["upload"]
    assert (upload["part_size"], upload["part_count"]) == (TEST_PART_BYTES, MAX_PARTS)
    map_id = body(created)["map"]["id"]
    raw = _worst_case_completion(MAX_PARTS)
    assert MAX_JSON_BYTES < len(raw) <= MAX_COMPLETE_JSON_BYTES
    response = pipeline.client.http.post(
        f"/v1/maps/{map_id}/upload/complete",
        headers={**alice, "Content-Type": "application/json"},
        body=raw,
    )
    assert response.status_code == 400, response.body
    assert body(response)["message"] == "parts: S3 holds no part 1; upload it, then complete."

    # One part too many is read whole too, and named.
    extra = _worst_case_completion(MAX_PARTS + 1)
    response = pipeline.client.http.post(
        f"/v1/maps/{map_id}/upload/complete",
        headers={**alice, "Content-Type": "application/json"},
        body=extra,
    )
    assert response.status_code == 400, response.body
    assert "part 10001 is not in this upload" in body(response)["message"]


def test_the_reviewers_18_gb_upload_takes_its_completion(pipeline, users, sql, monkeypatch):
    """POST /v1/maps of 18,253,611,008 bytes at the default 16 MiB parts: 1,088 parts, whose
    completion (67,449 bytes) was refused 413."""
    from chalicelib import config

    users.create("frank")
    sql.run("UPDATE app.users SET quota_bytes = 20000000000 WHERE username = 'frank'")
    monkeypatch.setenv("MULTIPART_PART_BYTES", str(16 * 1024 * 1024))
    config.get_settings.cache_clear()
    try:
        frank = users.headers("frank")
        created = pipeline.create_presigned(frank, filename="ortho.tif", size=18253611008)
        assert created.status_code == 201, created.body
        upload = body(created)["upload"]
        assert (upload["part_size"], upload["part_count"]) == (16 * 1024 * 1024, 1088)
        parts = [{"part_number": n, "etag": "0" * 32} for n in range(1, 1089)]
        raw = json.dumps({"parts": parts}, separators=(",", ":")).encode()  # as httpx sends it
        assert len(raw) == 67_448 > MAX_JSON_BYTES  # the reviewer's 67,449 had a newline
        response = pipeline.client.http.post(
            f"/v1/maps/{body(created)['map']['id']}/upload/complete",
            headers={**frank, "Content-Type": "application/json"},
            body=raw,
        )
    finally:
        monkeypatch.setenv("MULTIPART_PART_BYTES", str(TEST_PART_BYTES))
        config.get_settings.cache_clear()
    assert response.status_code == 400, response.body
    assert "S3 holds no part 1" in body(response)["message"]


def test_only_the_completion_takes_long_bodies(pipeline, users):
    users.create("alice")
    alice = users.headers("alice")
    data = _data(1.5)
    map_id = body(_create(pipeline, alice, data))["map"]["id"]
    complete_path = f"/v1/maps/{map_id}/upload/complete"
    headers = {**alice, "Content-Type": "application/json"}

    too_long = b'{"parts": [' + b" " * MAX_COMPLETE_JSON_BYTES + b"]}"
    response = pipeline.client.http.post(complete_path, headers=headers, body=too_long)
    assert response.status_code == 413, response.body
    assert (
        body(response)["message"] == f"JSON bodies are limited to {MAX_COMPLETE_JSON_BYTES} bytes."
    )

    # Deep nesting is still refused before it is parsed, however long the body may be.
    deep = b'{"parts": ' + b"[" * (MAX_JSON_DEPTH * 1000) + b"]" * (MAX_JSON_DEPTH * 1000) + b"}"
    response = pipeline.client.http.post(complete_path, headers=headers, body=deep)
    assert response.status_code == 400, response.body
    assert "nested deeper" in body(response)["message"]

    # Every other JSON route keeps 64 KiB: the part URLs, a new upload, a map's edit.
    padded = b'{"part_numbers": [1]' + b" " * MAX_JSON_BYTES + b"}"
    for path, method in (
        (f"/v1/maps/{map_id}/upload/parts", "POST"),
        ("/v1/maps", "POST"),
        (f"/v1/maps/{map_id}", "PATCH"),
    ):
        response = pipeline.client.http.request(method, path, headers=headers, body=padded)
        assert response.status_code == 413, (path, response.body)
        assert body(response)["message"] == f"JSON bodies are limited to {MAX_JSON_BYTES} bytes."
    assert body(pipeline.get(map_id, alice))["status"] == "awaiting_upload"


def test_the_local_server_takes_a_chunked_completion_whatever_the_direct_limit(monkeypatch):
    """`make run` decodes chunked bodies up to the largest the app takes: never below a
    completion's, even with MAX_DIRECT_UPLOAD_BYTES set small."""
    from chalicelib import config
    from devstack.api_server import body_limit

    monkeypatch.setenv("MAX_DIRECT_UPLOAD_BYTES", "1024")
    config.get_settings.cache_clear()
    try:
        assert body_limit() == MAX_COMPLETE_JSON_BYTES
    finally:
        monkeypatch.delenv("MAX_DIRECT_UPLOAD_BYTES")
        config.get_settings.cache_clear()
    assert body_limit() == config.get_settings().max_direct_upload_bytes + 64 * 1024
