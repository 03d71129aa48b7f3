"""Multipart uploads: the whole life cycle through the API, S3 (moto) and the handlers, with
resume, bad completions, abort, other callers, expiry and quota."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import requests

from tests.conftest import BUCKET, TEST_PART_BYTES, body
from tests.events import scheduled_event

PART = TEST_PART_BYTES


def _data(parts: float, seed: int = 1) -> bytes:
    """A GeoJSON document of about `parts` parts (a real map, so processing makes it ready)."""
    features = []
    i = 0
    while len(json.dumps(features)) < parts * PART:
        features.append(
            {
                "type": "Feature",
                "properties": {"n": i, "seed": seed, "pad": "x" * 200},
                "geometry": {"type": "Point", "coordinates": [6 + (i % 300) / 100, 46.0]},
            }
        )
        i += 1
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _create(pipeline, headers, data, **extra):
    doc = {"filename": "big.geojson", "size": len(data), "multipart": True, **extra}
    return pipeline.create_presigned(headers, **doc)


def _post(pipeline, path, headers, doc):
    return pipeline.client.http.post(
        path, headers={**headers, "Content-Type": "application/json"}, body=json.dumps(doc)
    )


def _urls(pipeline, map_id, headers, numbers):
    response = _post(
        pipeline, f"/v1/maps/{map_id}/upload/parts", headers, {"part_numbers": numbers}
    )
    assert response.status_code == 200, response.body
    return {p["part_number"]: p for p in body(response)["parts"]}


def _put(url, chunk):
    response = requests.put(url, data=chunk, timeout=30)
    assert response.status_code == 200, response.text
    return response.headers["ETag"].strip('"')


def _chunks(data, part_size):
    return {n + 1: data[i : i + part_size] for n, i in enumerate(range(0, len(data), part_size))}


def _state(pipeline, map_id, headers):
    return pipeline.client.http.get(f"/v1/maps/{map_id}/upload", headers=headers)


def _complete(pipeline, map_id, headers, parts):
    return _post(pipeline, f"/v1/maps/{map_id}/upload/complete", headers, {"parts": parts})


def test_multipart_life_cycle_with_resume_ends_ready(pipeline, users, s3):
    users.create("alice")
    alice = users.headers("alice")
    data = _data(3.5)
    sha = hashlib.sha256(data).hexdigest()
    created = _create(pipeline, alice, data, sha256=sha, title="Big")
    assert created.status_code == 201, created.body
    doc, upload = body(created)["map"], body(created)["upload"]
    assert doc["status"] == "awaiting_upload"
    assert upload["method"] == "multipart"
    assert upload["part_size"] == PART
    assert upload["part_count"] == 4 == -(-len(data) // PART)
    map_id = doc["id"]
    chunks = _chunks(data, PART)

    # A first client sends parts 1 and 3, then "crashes".
    urls = _urls(pipeline, map_id, alice, [1, 3])
    etags = {n: _put(urls[n]["url"], chunks[n]) for n in (1, 3)}
    assert urls[1]["expires_at"] and "X-Amz-Expires=900" in urls[1]["url"]

    # Another client resumes from the server's list: only 2 and 4 are left.
    state = body(_state(pipeline, map_id, alice))
    assert state["part_count"] == 4 and state["part_size"] == PART
    held = {p["part_number"]: p for p in state["parts"]}
    assert set(held) == {1, 3}
    assert held[1]["etag"] == etags[1] and held[3]["size"] == PART
    urls = _urls(pipeline, map_id, alice, [2, 4])
    assert urls[4]["size"] == len(chunks[4])
    for n in (2, 4):
        etags[n] = _put(urls[n]["url"], chunks[n])

    done = _complete(
        pipeline, map_id, alice, [{"part_number": n, "etag": etags[n]} for n in (1, 2, 3, 4)]
    )
    assert done.status_code == 200, done.body
    assert body(done)["status"] == "uploaded"
    assert body(done)["size"] == len(data)
    pipeline.deliver_s3(map_id, times=2)  # S3's own event: the map is already registered
    assert pipeline.process_all() == {"batchItemFailures": []}
    ready = body(pipeline.get(map_id, alice))
    assert ready["status"] == "ready", ready
    assert ready["sha256"] == sha
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    response = pipeline.client.http.get(
        f"/v1/maps/{map_id}/download?variant=original", headers=alice
    )
    assert requests.get(response.headers["Location"], timeout=30).content == data

    # Finished: no more part URLs, no state, no second completion.
    for response in (
        _post(pipeline, f"/v1/maps/{map_id}/upload/parts", alice, {"part_numbers": [1]}),
        _state(pipeline, map_id, alice),
        _complete(pipeline, map_id, alice, [{"part_number": 1, "etag": etags[1]}]),
    ):
        assert response.status_code == 409, response.body
        assert body(response)["code"] == "conflict"


def test_size_over_the_threshold_is_multipart_without_asking(pipeline, users, monkeypatch):
    monkeypatch.setenv("MULTIPART_THRESHOLD_BYTES", str(PART))
    from chalicelib import config

    config.get_settings.cache_clear()
    try:
        users.create("alice")
        alice = users.headers("alice")
        small = pipeline.create_presigned(alice, filename="a.geojson", size=PART)
        big = pipeline.create_presigned(alice, filename="a.geojson", size=PART + 1)
        assert body(small)["upload"]["method"] == "POST"
        assert body(big)["upload"]["method"] == "multipart"
        assert body(big)["upload"]["part_count"] == 2
    finally:
        monkeypatch.delenv("MULTIPART_THRESHOLD_BYTES")
        config.get_settings.cache_clear()


@pytest.fixture
def half_done(pipeline, users):
    """A 3-part upload with every part sent; (map_id, headers, etags)."""
    users.create("alice")
    alice = users.headers("alice")
    data = _data(2.5)
    map_id = body(_create(pipeline, alice, data))["map"]["id"]
    chunks = _chunks(data, PART)
    urls = _urls(pipeline, map_id, alice, [1, 2, 3])
    etags = {n: _put(urls[n]["url"], chunks[n]) for n in (1, 2, 3)}
    return map_id, alice, etags


@pytest.mark.parametrize(
    ("parts", "says"),
    [
        ([(1, None), (2, None)], "part 3 is missing"),
        ([(1, None), (2, None), (3, "0" * 32)], "part 3's etag"),
        ([(2, None), (1, None), (3, None)], "ascending"),
        ([(1, None), (1, None), (2, None), (3, None)], "twice"),
        ([(1, None), (2, None), (3, None), (4, None)], "part 4 is not in this upload"),
        ([], "part 1 is missing"),
    ],
    ids=["missing", "wrong-etag", "out-of-order", "duplicate", "extra", "empty"],
)
def test_bad_completion_is_400_and_stays_resumable(pipeline, half_done, parts, says):
    map_id, alice, etags = half_done
    listed = [{"part_number": n, "etag": etag or etags.get(n, "x")} for n, etag in parts]
    response = _complete(pipeline, map_id, alice, listed)
    assert response.status_code == 400, response.body
    assert body(response)["code"] == "invalid_request"
    assert says in body(response)["message"]
    assert body(pipeline.get(map_id, alice))["status"] == "awaiting_upload"
    assert len(body(_state(pipeline, map_id, alice))["parts"]) == 3
    fixed = [{"part_number": n, "etag": etags[n]} for n in (1, 2, 3)]
    assert _complete(pipeline, map_id, alice, fixed).status_code == 200


def test_a_part_of_the_wrong_size_cannot_complete(pipeline, users):
    users.create("alice")
    alice = users.headers("alice")
    data = _data(1.5)
    map_id = body(_create(pipeline, alice, data))["map"]["id"]
    chunks = _chunks(data, PART)
    urls = _urls(pipeline, map_id, alice, [1, 2])
    etag1 = _put(urls[1]["url"], chunks[1])
    # moto does not check the signed Content-Length (S3 does): the API re-checks sizes itself.
    etag2 = _put(urls[2]["url"], chunks[2] + b"extra")
    response = _complete(
        pipeline,
        map_id,
        alice,
        [{"part_number": 1, "etag": etag1}, {"part_number": 2, "etag": etag2}],
    )
    assert response.status_code == 400
    assert "part 2 holds" in body(response)["message"]


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"part_numbers": []},
        {"part_numbers": [0]},
        {"part_numbers": [4]},
        {"part_numbers": [1, 1]},
        {"part_numbers": ["1"]},
        {"part_numbers": [True]},
        {"part_numbers": list(range(1, 102))},
        {"part_numbers": [1], "other": 1},
    ],
)
def test_bad_part_requests_are_400(pipeline, half_done, doc):
    map_id, alice, _ = half_done
    response = _post(pipeline, f"/v1/maps/{map_id}/upload/parts", alice, doc)
    assert response.status_code == 400, response.body
    assert body(response)["code"] == "invalid_request"


def test_abort_removes_the_map_and_its_parts(pipeline, half_done, s3, sql):
    map_id, alice, _ = half_done
    assert s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"maps/{map_id}/").get("Uploads")
    response = pipeline.client.http.delete(f"/v1/maps/{map_id}/upload", headers=alice)
    assert response.status_code == 204
    assert pipeline.get(map_id, alice).status_code == 404
    assert s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"maps/{map_id}/").get("Uploads") in (
        None,
        [],
    )
    assert sql.run("SELECT count(*) FROM app.maps")[0][0] == 0
    again = pipeline.client.http.delete(f"/v1/maps/{map_id}/upload", headers=alice)
    assert again.status_code == 404


def test_other_callers_get_404_on_every_upload_route(pipeline, half_done, users):
    map_id, _, etags = half_done
    users.create("mallory")
    parts = [{"part_number": n, "etag": etags[n]} for n in (1, 2, 3)]
    for who in (users.headers("mallory"), {}):
        expected = 404 if who else 401
        responses = [
            _post(pipeline, f"/v1/maps/{map_id}/upload/parts", who, {"part_numbers": [1]}),
            _state(pipeline, map_id, who),
            _complete(pipeline, map_id, who, parts),
            pipeline.client.http.delete(f"/v1/maps/{map_id}/upload", headers=who),
        ]
        assert [r.status_code for r in responses] == [expected] * 4, [r.body for r in responses]


def test_an_admin_sees_and_aborts_but_never_uploads_into_a_members_map(
    pipeline, half_done, users, s3, sql
):
    """Contract: parts and complete are owner only. An admin gets 403 in the error shape for
    both (the map stays the owner's to finish), and keeps GET and DELETE of the upload."""
    map_id, alice, etags = half_done
    users.create("root", role="admin")
    root = users.headers("root")
    parts = [{"part_number": n, "etag": etags[n]} for n in (1, 2, 3)]

    refused = [
        _post(pipeline, f"/v1/maps/{map_id}/upload/parts", root, {"part_numbers": [1, 2]}),
        _complete(pipeline, map_id, root, parts),
    ]
    for response in refused:
        assert response.status_code == 403, response.body
        error = body(response)
        assert set(error) == {"code", "message", "request_id"}
        assert error["code"] == "forbidden" and "owner" in error["message"]
        assert "url" not in response.body.decode()
    # Nothing moved: still awaiting its upload, every part still held, S3's upload unfinished.
    assert sql.run("SELECT status FROM app.maps WHERE id = :id", id=map_id) == [["awaiting_upload"]]
    assert len(_s3_uploads(s3, map_id)) == 1
    state = _state(pipeline, map_id, root)
    assert state.status_code == 200, state.body
    assert [p["part_number"] for p in body(state)["parts"]] == [1, 2, 3]

    # The owner still finishes it.
    assert _urls(pipeline, map_id, alice, [3])[3]["url"]
    done = _complete(pipeline, map_id, alice, parts)
    assert done.status_code == 200, done.body
    assert body(done)["status"] == "uploaded"


def test_an_admin_may_abort_a_members_upload(pipeline, half_done, users, s3, sql):
    map_id, _, _ = half_done
    users.create("root", role="admin")
    gone = pipeline.client.http.delete(f"/v1/maps/{map_id}/upload", headers=users.headers("root"))
    assert gone.status_code == 204, gone.body
    assert sql.run("SELECT count(*) FROM app.maps WHERE id = :id", id=map_id) == [[0]]
    assert _s3_uploads(s3, map_id) == []


def _s3_uploads(s3, map_id):
    """S3's unfinished multipart uploads of the map (the bucket outlives each test)."""
    found = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"maps/{map_id}/")
    return found.get("Uploads", [])


def test_an_admin_uploads_into_their_own_multipart_map(pipeline, users):
    users.create("root", role="admin")
    root = users.headers("root")
    data = _data(1.5)
    map_id = body(_create(pipeline, root, data))["map"]["id"]
    urls = _urls(pipeline, map_id, root, [1, 2])
    chunks = _chunks(data, PART)
    parts = [{"part_number": n, "etag": _put(urls[n]["url"], chunks[n])} for n in (1, 2)]
    done = _complete(pipeline, map_id, root, parts)
    assert done.status_code == 200, done.body
    assert body(done)["status"] == "uploaded"


def test_finish_multipart_refuses_anyone_but_the_owner(half_done, users, sql):
    """The SQL rule itself, under the route's check: an admin cannot mark the map uploaded."""
    map_id, _, _ = half_done
    users.create("root", role="admin")
    root = users.get("root")
    with pytest.raises(Exception, match="Only the owner"):
        sql.run(
            "SELECT api.finish_multipart(:caller::uuid, :tv, :id::uuid, 1, NULL, NULL)",
            caller=root["id"],
            tv=root["token_version"],
            id=map_id,
        )
    assert sql.run("SELECT status FROM app.maps WHERE id = :id", id=map_id) == [["awaiting_upload"]]


def test_not_a_multipart_map_is_409(pipeline, users):
    users.create("alice")
    alice = users.headers("alice")
    created = pipeline.create_presigned(alice, filename="a.geojson", size=10)
    map_id = body(created)["map"]["id"]
    response = _state(pipeline, map_id, alice)
    assert response.status_code == 409


def test_refused_before_a_byte_moves(pipeline, users, s3):
    users.create("alice")
    alice = users.headers("alice")
    before = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    too_big = pipeline.create_presigned(alice, filename="a.tif", size=100 * 1024**3 + 1)
    assert too_big.status_code == 413
    word = pipeline.create_presigned(alice, filename="notes.docx", size=10, multipart=True)
    assert word.status_code == 415
    assert body(word)["code"] == "unsupported_media_type"
    flag = pipeline.create_presigned(alice, filename="a.tif", size=10, multipart="yes")
    assert flag.status_code == 400
    users.create("lapsed", days=-1)
    lapsed = pipeline.create_presigned(
        users.headers("lapsed"), filename="a.tif", size=10, multipart=True
    )
    assert lapsed.status_code == 403
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == before


def test_quota_counts_pending_multipart_uploads(pipeline, users, sql, s3):
    users.create("alice")
    sql.run("UPDATE app.users SET quota_bytes = 1000000 WHERE username = 'alice'")
    alice = users.headers("alice")
    first = pipeline.create_presigned(alice, filename="a.tif", size=600_000, multipart=True)
    assert first.status_code == 201
    second = pipeline.create_presigned(alice, filename="b.tif", size=600_000, multipart=True)
    assert second.status_code == 403
    assert body(second)["code"] == "quota_exceeded"
    # The refused one left no upload behind in S3.
    uploads = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert [u["Key"] for u in uploads].count(f"maps/{body(first)['map']['id']}/original") == 1
    assert len([u for u in uploads if u["Key"].startswith("maps/")]) == 1 + len(
        [u for u in uploads if u["Key"] != f"maps/{body(first)['map']['id']}/original"]
    )


def test_expired_multipart_uploads_are_aborted_by_the_sweeper(pipeline, half_done, s3, sql):
    map_id, alice, _ = half_done
    sql.run(
        "UPDATE app.maps SET upload_expires_at = now() - interval '2 days' WHERE id = :id",
        id=map_id,
    )
    result = pipeline.client.lambda_.invoke("sweeper", scheduled_event()).payload
    assert map_id in result["expired_uploads"]
    assert pipeline.get(map_id, alice).status_code == 404
    assert not s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"maps/{map_id}/").get("Uploads")
    again = pipeline.client.lambda_.invoke("sweeper", scheduled_event()).payload
    assert map_id not in again["expired_uploads"]


def test_bucket_cors_lets_browsers_put_parts_and_read_etags(stack):
    """The CORS document itself (moto answers CORS even without rules)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=stack["AWS_ENDPOINT_URL"])
    (rule,) = s3.get_bucket_cors(Bucket=BUCKET)["CORSRules"]
    assert {"PUT", "POST"} <= set(rule["AllowedMethods"])
    assert "ETag" in rule["ExposeHeaders"]
    assert os.environ["MULTIPART_PART_BYTES"] == str(PART)
