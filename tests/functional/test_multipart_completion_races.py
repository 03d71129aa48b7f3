"""Completing a multipart upload is idempotent: identical completions at once, or one repeated
after its answer was lost, all answer 200 with the map; never "expired, delete it" for an
upload that is complete (a client following that advice would delete a good map)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import BUCKET, body
from tests.functional.test_multipart import PART, _chunks, _complete, _create, _data, _put, _urls

EXPIRED = "The upload expired in storage; delete it and start again."


def _sent(pipeline, headers, seed=1):
    """A 2-part upload with both parts in S3; (map_id, parts to complete with)."""
    data = _data(1.5, seed)
    map_id = body(_create(pipeline, headers, data))["map"]["id"]
    chunks = _chunks(data, PART)
    urls = _urls(pipeline, map_id, headers, [1, 2])
    return map_id, [{"part_number": n, "etag": _put(urls[n]["url"], chunks[n])} for n in (1, 2)]


def _at_once(n, call, *args):
    """`n` threads making the same call, let go together; their answers."""
    start = threading.Barrier(n)

    def one(_):
        start.wait()
        return call(*args)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_four_identical_completions_at_once_all_answer_the_map(pipeline, users, s3):
    users.create("alice")
    alice = users.headers("alice")
    for seed in range(3):  # a race: several rounds, each of 4 calls let go at once
        map_id, parts = _sent(pipeline, alice, seed)
        answers = _at_once(4, _complete, pipeline, map_id, alice, parts)
        for answer in answers:
            assert answer.status_code == 200, answer.body
            assert (body(answer)["id"], body(answer)["status"]) == (map_id, "uploaded")
        pipeline.deliver_s3(map_id)
        assert pipeline.process_all() == {"batchItemFailures": []}
        assert body(pipeline.get(map_id, alice))["status"] == "ready"
        assert (
            s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"maps/{map_id}/").get("Uploads")
            is None
        )


def test_a_repeated_completion_answers_like_the_first(pipeline, users):
    users.create("alice")
    alice = users.headers("alice")
    map_id, parts = _sent(pipeline, alice)
    first = _complete(pipeline, map_id, alice, parts)
    assert first.status_code == 200, first.body
    again = _complete(pipeline, map_id, alice, parts)
    assert again.status_code == 200, again.body
    assert body(again) == body(first)
    # Processed since: the same completion gets the map as it is now.
    pipeline.deliver_s3(map_id)
    pipeline.process_all()
    late = _complete(pipeline, map_id, alice, parts)
    assert (late.status_code, body(late)["status"]) == (200, "ready")
    # Other parts than the object was made of: 409, saying it is complete (not "expired").
    for other in (
        [parts[0], {"part_number": 2, "etag": "0" * 32}],
        [parts[0]],
        [],
    ):
        response = _complete(pipeline, map_id, alice, other)
        assert response.status_code == 409, response.body
        assert body(response)["message"] == (
            "The upload is already complete (the map is ready), with other parts than these."
        )


def test_a_completion_finding_the_object_already_made_in_s3_finishes_it(pipeline, users, s3):
    """Another call completed the upload in S3 and has not marked the map yet (or its answer
    was lost): S3 no longer lists the upload, and the object it made is recognised by its
    ETag (the MD5 of the parts' MD5s)."""
    users.create("alice")
    alice = users.headers("alice")
    map_id, parts = _sent(pipeline, alice)
    (upload,) = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"maps/{map_id}/")["Uploads"]
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key=f"maps/{map_id}/original",
        UploadId=upload["UploadId"],
        MultipartUpload={
            "Parts": [{"PartNumber": p["part_number"], "ETag": p["etag"]} for p in parts]
        },
    )
    other = [parts[0], {"part_number": 2, "etag": "0" * 32}]
    response = _complete(pipeline, map_id, alice, other)
    assert response.status_code == 409, response.body
    assert (
        body(response)["message"] == "The upload is already complete, with other parts than these."
    )
    response = _complete(pipeline, map_id, alice, parts)
    assert response.status_code == 200, response.body
    assert body(response)["status"] == "uploaded"
    pipeline.deliver_s3(map_id)
    assert pipeline.process_all() == {"batchItemFailures": []}
    assert body(pipeline.get(map_id, alice))["status"] == "ready"


def test_an_upload_gone_from_s3_without_an_object_is_still_expired(pipeline, users, s3):
    users.create("alice")
    alice = users.headers("alice")
    map_id, parts = _sent(pipeline, alice)
    (upload,) = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"maps/{map_id}/")["Uploads"]
    s3.abort_multipart_upload(
        Bucket=BUCKET, Key=f"maps/{map_id}/original", UploadId=upload["UploadId"]
    )
    response = _complete(pipeline, map_id, alice, parts)
    assert (response.status_code, body(response)["message"]) == (409, EXPIRED)
    assert body(pipeline.get(map_id, alice))["status"] == "awaiting_upload"
