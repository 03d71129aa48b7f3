"""Upload (both forms) -> S3 event -> SQS job -> ready -> download, with duplicated events."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import requests

from tests.conftest import BUCKET, GEOJSON, body, fail_s3_reads, job_body


def _download(pipeline, map_id, headers):
    response = pipeline.client.http.get(f"/v1/maps/{map_id}/download", headers=headers)
    assert response.status_code == 302, response.body
    location = response.headers["Location"]
    fetched = requests.get(location, timeout=30)
    assert fetched.status_code == 200
    return location, fetched


def test_direct_upload_goes_ready_and_downloads_identical_bytes(pipeline, users, sql):
    users.create("alice")
    alice = users.headers("alice")
    created = pipeline.upload_direct(alice, GEOJSON, "Alps trails.geojson", title="Alps")
    assert created.status_code == 201, created.body
    doc = body(created)["map"]
    assert doc["status"] == "uploaded"
    assert doc["filename"] == "Alps trails.geojson"
    assert doc["title"] == "Alps"
    assert doc["visibility"] == "private"
    assert doc["size"] == len(GEOJSON)
    assert created.headers["Location"] == f"/v1/maps/{doc['id']}"

    # S3 delivers the event twice: still one job's effect.
    pipeline.deliver_s3(doc["id"], times=2)
    messages = pipeline.receive()
    assert len(messages) >= 1
    assert {json.loads(m["Body"])["map_id"] for m in messages} == {doc["id"]}
    # Every job delivered twice, each copy with its own messageId.
    result = pipeline.deliver_jobs(pipeline.records(messages) + pipeline.records(messages))
    assert result == {"batchItemFailures": []}

    ready = body(pipeline.get(doc["id"], alice))
    assert ready["status"] == "ready"
    assert ready["format"] == "geojson"
    assert ready["sha256"] == hashlib.sha256(GEOJSON).hexdigest()
    assert ready["metadata"]["bbox"] == [7.0, 45.5, 8.0, 46.5]
    assert ready["processed_at"] is not None
    attempts = sql.run("SELECT attempts FROM app.maps WHERE id = :id", id=doc["id"])[0][0]
    assert attempts == 1
    assert sql.run("SELECT count(*) FROM app.maps")[0][0] == 1

    location, fetched = _download(pipeline, doc["id"], alice)
    assert fetched.content == GEOJSON
    query = parse_qs(urlsplit(location).query)
    assert int(query["X-Amz-Expires"][0]) <= 300
    assert query["response-content-disposition"][0] == (
        "attachment; filename=\"Alps trails.geojson\"; filename*=UTF-8''Alps%20trails.geojson"
    )
    assert body(pipeline.get(doc["id"], alice))["download_count"] == 1


def test_presigned_upload_goes_ready(pipeline, users, s3):
    users.create("bob")
    bob = users.headers("bob")
    sha = hashlib.sha256(GEOJSON).hexdigest()
    created = pipeline.create_presigned(
        bob, filename="route.geojson", size=len(GEOJSON), sha256=sha, visibility="public"
    )
    assert created.status_code == 201, created.body
    doc, upload = body(created)["map"], body(created)["upload"]
    assert doc["status"] == "awaiting_upload"
    assert upload["method"] == "POST"
    assert upload["fields"]["key"] == f"maps/{doc['id']}/original"
    assert "route" not in upload["fields"]["key"]
    policy = json.loads(__import__("base64").b64decode(upload["fields"]["policy"]))
    assert ["content-length-range", len(GEOJSON), len(GEOJSON)] in policy["conditions"]

    assert pipeline.post_to_s3(upload, GEOJSON) in (200, 201, 204)
    pipeline.deliver_s3(doc["id"], times=2)
    assert body(pipeline.get(doc["id"], bob))["status"] == "uploaded"
    result = pipeline.process_all()
    assert result == {"batchItemFailures": []}
    ready = body(pipeline.get(doc["id"], bob))
    assert ready["status"] == "ready", ready
    assert ready["sha256"] == sha
    # Public: a guest downloads the same bytes.
    _, fetched = _download(pipeline, doc["id"], {})
    assert fetched.content == GEOJSON


def test_upload_of_other_size_than_declared_is_rejected(pipeline, users):
    users.create("carol")
    carol = users.headers("carol")
    doc = body(pipeline.create_presigned(carol, filename="a.geojson", size=10))["map"]
    upload = body(pipeline.create_presigned(carol, filename="b.geojson", size=10))["upload"]
    del upload  # a second map, never uploaded: stays awaiting_upload
    # moto does not enforce the POST policy: put a larger object the way a rogue client could.
    pipeline.s3.put_object(
        Bucket=BUCKET,
        Key=f"maps/{doc['id']}/original",
        Body=GEOJSON,
        ContentType="application/octet-stream",
    )
    pipeline.deliver_s3(doc["id"])
    assert pipeline.receive() == []
    rejected = body(pipeline.get(doc["id"], carol))
    assert rejected["status"] == "rejected"
    assert rejected["error"]["code"] == "size_mismatch"


def test_checksum_mismatch_is_rejected(pipeline, users):
    users.create("dave")
    dave = users.headers("dave")
    created = body(
        pipeline.create_presigned(dave, filename="a.geojson", size=len(GEOJSON), sha256="0" * 64)
    )
    pipeline.post_to_s3(created["upload"], GEOJSON)
    pipeline.deliver_s3(created["map"]["id"])
    pipeline.process_all()
    doc = body(pipeline.get(created["map"]["id"], dave))
    assert doc["status"] == "rejected"
    assert doc["error"]["code"] == "checksum_mismatch"
    denied = pipeline.client.http.get(f"/v1/maps/{doc['id']}/download", headers=dave)
    assert denied.status_code == 409
    assert body(denied)["code"] == "not_ready"


def test_disguised_html_is_rejected_with_reason(pipeline, users):
    users.create("erin")
    erin = users.headers("erin")
    html = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
    doc = body(pipeline.upload_direct(erin, html, "innocent.tif"))["map"]
    pipeline.deliver_s3(doc["id"])
    pipeline.process_all()
    rejected = body(pipeline.get(doc["id"], erin))
    assert rejected["status"] == "rejected"
    assert rejected["error"]["code"] == "unsupported_format"
    assert rejected["format"] is None


def test_unknown_keys_and_test_events_are_ignored(pipeline, users, sql):
    from tests.events import s3_object_created

    pipeline.s3.put_object(
        Bucket=BUCKET, Key="elsewhere/thing.txt", Body=b"x", ContentType="text/plain"
    )
    pipeline.client.lambda_.invoke("on_upload", s3_object_created(BUCKET, "elsewhere/thing.txt", 1))
    pipeline.client.lambda_.invoke(
        "on_upload", s3_object_created(BUCKET, "maps/not-a-uuid/original", 1)
    )
    assert pipeline.receive() == []
    assert sql.run("SELECT count(*) FROM app.maps")[0][0] == 0


def test_object_of_deleted_map_is_removed_on_late_event(pipeline, users):
    users.create("fay")
    fay = users.headers("fay")
    created = body(pipeline.create_presigned(fay, filename="a.geojson", size=len(GEOJSON)))
    map_id = created["map"]["id"]
    assert pipeline.client.http.delete(f"/v1/maps/{map_id}", headers=fay).status_code == 204
    pipeline.post_to_s3(created["upload"], GEOJSON)  # the upload lands after the delete
    pipeline.deliver_s3(map_id)
    listed = pipeline.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"maps/{map_id}/")
    assert listed.get("KeyCount", 0) == 0
    assert pipeline.receive() == []


def test_failed_record_is_reported_alone_and_retried(pipeline, users, monkeypatch):

    users.create("gus")
    gus = users.headers("gus")
    good = body(pipeline.upload_direct(gus, GEOJSON, "good.geojson"))["map"]["id"]
    bad = body(pipeline.upload_direct(gus, GEOJSON, "bad.geojson"))["map"]["id"]
    pipeline.deliver_s3(good)
    pipeline.deliver_s3(bad)
    messages = pipeline.receive()
    records = pipeline.records(messages)
    bad_ids = [r["messageId"] for r in records if json.loads(r["body"])["map_id"] == bad]

    restore = fail_s3_reads(monkeypatch, only=bad)
    result = pipeline.deliver_jobs(records)
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == bad_ids
    assert body(pipeline.get(good, gus))["status"] == "ready"
    # The failed map was handed back, not left processing: the retry claims it at once.
    assert body(pipeline.get(bad, gus))["status"] == "uploaded"

    restore()
    retry = [
        r
        for r in pipeline.records(messages, receive_count=2)
        if json.loads(r["body"])["map_id"] == bad
    ]
    assert pipeline.deliver_jobs(retry) == {"batchItemFailures": []}
    assert body(pipeline.get(bad, gus))["status"] == "ready"


def test_last_attempt_failure_marks_map_failed_never_stuck(pipeline, users, monkeypatch):

    users.create("hal")
    hal = users.headers("hal")
    map_id = body(pipeline.upload_direct(hal, GEOJSON, "x.geojson"))["map"]["id"]
    pipeline.deliver_s3(map_id)
    messages = pipeline.receive()

    fail_s3_reads(monkeypatch)
    result = pipeline.deliver_jobs(pipeline.records(messages, receive_count=5))
    assert result == {"batchItemFailures": []}
    failed = body(pipeline.get(map_id, hal))
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "processing_failed"


def test_malformed_job_message_is_dropped_without_touching_maps(pipeline, users):
    from tests.events import sqs_record

    result = pipeline.deliver_jobs([sqs_record("not json", "q"), sqs_record('{"map_id": 5}', "q")])
    assert result == {"batchItemFailures": []}


def test_expired_lease_is_reclaimed_once(pipeline, users, sql):
    users.create("ivy")
    ivy = users.headers("ivy")
    map_id = body(pipeline.upload_direct(ivy, GEOJSON, "x.geojson"))["map"]["id"]
    # A worker claimed it and died (Lambda timeout): the lease is left behind, expired.
    sql.run(
        "UPDATE app.maps SET status = 'processing', lease_token = gen_random_uuid(), "
        "lease_until = now() - interval '1 second', attempts = 1 WHERE id = :id",
        id=map_id,
    )
    pipeline.deliver_s3(map_id)  # not awaiting_upload any more: no new job from S3
    assert pipeline.receive() == []
    from tests.events import sqs_record

    job = job_body(map_id)
    assert pipeline.deliver_jobs([sqs_record(job, "q", 2), sqs_record(job, "q", 2)]) == {
        "batchItemFailures": []
    }
    assert body(pipeline.get(map_id, ivy))["status"] == "ready"
    assert sql.run("SELECT attempts FROM app.maps WHERE id = :id", id=map_id)[0][0] == 2


PENDING = [{"Key": "mapstock-upload", "Value": "pending"}]


def test_presigned_uploads_are_tagged_pending_until_registered(pipeline, users):
    from tests.events import sqs_record

    users.create("tia")
    tia = users.headers("tia")
    created = body(pipeline.create_presigned(tia, filename="a.geojson", size=len(GEOJSON)))
    upload = created["upload"]
    assert "mapstock-upload" in upload["fields"]["tagging"]
    policy = json.loads(__import__("base64").b64decode(upload["fields"]["policy"]))
    assert {"tagging": upload["fields"]["tagging"]} in policy["conditions"]
    pipeline.post_to_s3(upload, GEOJSON)
    key = f"maps/{created['map']['id']}/original"
    # moto ignores the POST's tagging field: tag it as S3 would.
    pipeline.s3.put_object_tagging(Bucket=BUCKET, Key=key, Tagging={"TagSet": PENDING})
    pipeline.deliver_s3(created["map"]["id"])
    assert pipeline.s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"] == []

    # Should the event's untagging ever fail, the processor clears it before keeping the map.
    second = body(pipeline.upload_direct(tia, GEOJSON, "b.geojson"))["map"]["id"]
    key = f"maps/{second}/original"
    pipeline.s3.put_object_tagging(Bucket=BUCKET, Key=key, Tagging={"TagSet": PENDING})
    job = job_body(second)
    assert pipeline.deliver_jobs([sqs_record(job, "q")]) == {"batchItemFailures": []}
    assert body(pipeline.get(second, tia))["status"] == "ready"
    assert pipeline.s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"] == []
