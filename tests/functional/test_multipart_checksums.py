"""Multipart uploads with S3's SHA-256 part checksums: created on request, each part URL signed
for its checksum, damaged parts refused by S3 while the upload stays resumable, completion with
the checksums S3 holds; uploads without them work as before. moto checks none of this itself:
tests/s3_part_checksums.py makes it behave as S3 documents."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests import s3_part_checksums
from tests.conftest import BUCKET, body
from tests.functional.test_multipart import PART, _chunks, _complete, _data, _post, _state

HEADER = "x-amz-checksum-sha256"


@pytest.fixture(autouse=True)
def s3_checks_checksums():
    s3_part_checksums.install()
    yield
    s3_part_checksums.uninstall()


def _sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _create(pipeline, headers, data, **extra):
    doc = {"filename": "big.geojson", "size": len(data), "multipart": True, **extra}
    response = pipeline.create_presigned(headers, **doc)
    assert response.status_code == 201, response.body
    return body(response)


def _urls(pipeline, map_id, headers, checksums):
    doc = {
        "part_numbers": list(checksums),
        "checksums_sha256": {str(n): c for n, c in checksums.items()},
    }
    response = _post(pipeline, f"/v1/maps/{map_id}/upload/parts", headers, doc)
    assert response.status_code == 200, response.body
    return {p["part_number"]: p for p in body(response)["parts"]}


def _put(part, data):
    return requests.put(part["url"], data=data, headers=part["headers"], timeout=30)


@pytest.fixture
def alice(users):
    users.create("alice")
    return users.headers("alice")


def test_parts_with_checksums_end_ready(pipeline, alice, s3):
    data = _data(2.5)
    created = _create(
        pipeline, alice, data, checksum_algorithm="SHA256", sha256=hashlib.sha256(data).hexdigest()
    )
    assert created["upload"]["checksum_algorithm"] == "SHA256"
    map_id = created["map"]["id"]
    (started,) = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"maps/{map_id}/")["Uploads"]
    assert started["ChecksumAlgorithm"] == "SHA256"
    chunks = _chunks(data, PART)
    urls = _urls(pipeline, map_id, alice, {n: _sha(chunks[n]) for n in chunks})
    for n, part in urls.items():
        # The checksum is signed into the URL (S3 refuses unsigned x-amz-* headers on
        # presigned requests), and handed to the client to send as it is.
        assert part["headers"] == {HEADER: _sha(chunks[n])}
        signed = parse_qs(urlsplit(part["url"]).query)["X-Amz-SignedHeaders"][0].split(";")
        assert HEADER in signed and "content-length" in signed
    etags = {}
    for n, part in urls.items():
        response = _put(part, chunks[n])
        assert response.status_code == 200, response.text
        etags[n] = response.headers["ETag"].strip('"')

    state = body(_state(pipeline, map_id, alice))
    assert state["checksum_algorithm"] == "SHA256"
    assert {p["part_number"]: p["checksum_sha256"] for p in state["parts"]} == {
        n: _sha(c) for n, c in chunks.items()
    }
    # The contract's completion body, without checksums: the API adds the ones S3 holds.
    done = _complete(
        pipeline, map_id, alice, [{"part_number": n, "etag": etags[n]} for n in (1, 2, 3)]
    )
    assert done.status_code == 200, done.body
    pipeline.deliver_s3(map_id)
    assert pipeline.process_all() == {"batchItemFailures": []}
    ready = body(pipeline.get(map_id, alice))
    assert (ready["status"], ready["sha256"]) == ("ready", hashlib.sha256(data).hexdigest())


def test_a_damaged_part_is_refused_and_the_upload_resumes(pipeline, alice):
    data = _data(1.5)
    map_id = _create(pipeline, alice, data, checksum_algorithm="SHA256")["map"]["id"]
    chunks = _chunks(data, PART)
    urls = _urls(pipeline, map_id, alice, {n: _sha(c) for n, c in chunks.items()})
    damaged = bytearray(chunks[2])
    damaged[100] ^= 0xFF
    refused = _put(urls[2], bytes(damaged))
    assert refused.status_code == 400
    assert "<Code>BadDigest</Code>" in refused.text
    # Without its checksum header the PUT is refused too (on S3 already by the signature).
    assert requests.put(urls[2]["url"], data=chunks[2], timeout=30).status_code in (400, 403)
    etag1 = _put(urls[1], chunks[1]).headers["ETag"].strip('"')
    state = body(_state(pipeline, map_id, alice))
    assert [p["part_number"] for p in state["parts"]] == [1]  # the damaged part is not held
    missing = _complete(
        pipeline,
        map_id,
        alice,
        [{"part_number": 1, "etag": etag1}, {"part_number": 2, "etag": "x"}],
    )
    assert missing.status_code == 400 and "S3 holds no part 2" in body(missing)["message"]

    etag2 = _put(urls[2], chunks[2]).headers["ETag"].strip('"')
    done = _complete(
        pipeline,
        map_id,
        alice,
        [
            {"part_number": 1, "etag": etag1, "checksum_sha256": _sha(chunks[1])},
            {"part_number": 2, "etag": etag2, "checksum_sha256": _sha(chunks[2])},
        ],
    )
    assert done.status_code == 200, done.body
    assert body(done)["size"] == len(data)


def test_completion_with_a_checksum_s3_does_not_hold_is_400_and_resumable(pipeline, alice):
    data = _data(1.5)
    map_id = _create(pipeline, alice, data, checksum_algorithm="SHA256")["map"]["id"]
    chunks = _chunks(data, PART)
    urls = _urls(pipeline, map_id, alice, {n: _sha(c) for n, c in chunks.items()})
    etags = {n: _put(urls[n], chunks[n]).headers["ETag"].strip('"') for n in chunks}
    wrong = [
        {"part_number": 1, "etag": etags[1], "checksum_sha256": _sha(chunks[1])},
        {"part_number": 2, "etag": etags[2], "checksum_sha256": _sha(b"other bytes")},
    ]
    response = _complete(pipeline, map_id, alice, wrong)
    assert response.status_code == 400, response.body
    assert "part 2's checksum_sha256 is not the one S3 holds" in body(response)["message"]
    assert body(pipeline.get(map_id, alice))["status"] == "awaiting_upload"
    right = [{"part_number": n, "etag": etags[n]} for n in (1, 2)]
    assert _complete(pipeline, map_id, alice, right).status_code == 200


def test_an_upload_without_checksums_takes_none(pipeline, alice, s3):
    data = _data(1.5)
    created = _create(pipeline, alice, data)
    assert created["upload"]["checksum_algorithm"] is None
    map_id = created["map"]["id"]
    (started,) = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"maps/{map_id}/")["Uploads"]
    assert "ChecksumAlgorithm" not in started
    chunks = _chunks(data, PART)
    doc = {"part_numbers": [1], "checksums_sha256": {"1": _sha(chunks[1])}}
    response = _post(pipeline, f"/v1/maps/{map_id}/upload/parts", alice, doc)
    assert response.status_code == 400
    assert "created without part checksums" in body(response)["message"]
    plain = _post(pipeline, f"/v1/maps/{map_id}/upload/parts", alice, {"part_numbers": [1, 2]})
    parts = body(plain)["parts"]
    assert [p["headers"] for p in parts] == [{}, {}]
    assert HEADER not in parse_qs(urlsplit(parts[0]["url"]).query)["X-Amz-SignedHeaders"][0]
    # S3 refuses a checksum this upload was not created for.
    refused = requests.put(
        parts[0]["url"], data=chunks[1], headers={HEADER: _sha(chunks[1])}, timeout=30
    )
    assert refused.status_code == 400 and "Checksum Type mismatch" in refused.text
    etags = {
        p["part_number"]: _put(p, chunks[p["part_number"]]).headers["ETag"].strip('"')
        for p in parts
    }
    state = body(_state(pipeline, map_id, alice))
    assert state["checksum_algorithm"] is None
    assert all("checksum_sha256" not in p for p in state["parts"])
    with_checksum = [
        {"part_number": 1, "etag": etags[1], "checksum_sha256": _sha(chunks[1])},
        {"part_number": 2, "etag": etags[2]},
    ]
    assert _complete(pipeline, map_id, alice, with_checksum).status_code == 400
    done = _complete(
        pipeline, map_id, alice, [{"part_number": n, "etag": etags[n]} for n in (1, 2)]
    )
    assert done.status_code == 200, done.body


def test_a_presigned_post_ignores_the_part_checksum_choice(pipeline, alice):
    created = pipeline.create_presigned(
        alice, filename="a.geojson", size=10, checksum_algorithm="SHA256"
    )
    assert created.status_code == 201, created.body
    assert body(created)["upload"]["method"] == "POST"


GOOD = base64.b64encode(b"\x01" * 32).decode()


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ({"part_numbers": [1]}, "checksums_sha256: required"),
        ({"part_numbers": [1], "checksums_sha256": [GOOD]}, "checksums_sha256: required"),
        ({"part_numbers": [1, 2], "checksums_sha256": {"1": GOOD}}, "part 2 has none"),
        ({"part_numbers": [1], "checksums_sha256": {"1": GOOD, "2": GOOD}}, "'2' is not one of"),
        ({"part_numbers": [1], "checksums_sha256": {"1": "abc"}}, "not a SHA-256 digest"),
        (
            {"part_numbers": [1], "checksums_sha256": {"1": hashlib.sha256(b"").hexdigest()}},
            "not a SHA-256",
        ),
        (
            {
                "part_numbers": [1],
                "checksums_sha256": {"1": base64.b64encode(b"x" * 31).decode() + "AAAA"},
            },
            "not a SHA-256",
        ),
        ({"part_numbers": [1], "checksums_sha256": {"1": 5}}, "not a SHA-256"),
        ({"part_numbers": [1], "checksums_sha256": {"01": GOOD}}, "is not one of"),
    ],
)
def test_bad_checksum_requests_are_400(pipeline, alice, doc, says):
    map_id = _create(pipeline, alice, _data(1.5), checksum_algorithm="SHA256")["map"]["id"]
    response = _post(pipeline, f"/v1/maps/{map_id}/upload/parts", alice, doc)
    assert response.status_code == 400, response.body
    assert body(response)["code"] == "invalid_request"
    assert says in body(response)["message"]


@pytest.mark.parametrize("value", ["sha256", "CRC32", "", None, True])
def test_unknown_checksum_algorithms_are_400(pipeline, alice, value):
    response = pipeline.create_presigned(
        alice, filename="a.geojson", size=10, multipart=True, checksum_algorithm=value
    )
    assert response.status_code == 400, response.body
    assert "checksum_algorithm" in body(response)["message"]
