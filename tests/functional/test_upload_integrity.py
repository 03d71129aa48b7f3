"""A map is the exact object it registered: bytes sent again through a still-valid upload slot
(or written under its key any other way) never replace what was checked and published."""

from __future__ import annotations

import hashlib
import json

import requests

from tests.conftest import BUCKET, GEOJSON, body, log_lines

# The same size as GEOJSON (the slot's policy pins the size), but not a map at all.
HTML = (b"<html><body>not a map</body></html>" + b" " * len(GEOJSON))[: len(GEOJSON)]


def _versions(s3, map_id):
    listed = s3.list_object_versions(Bucket=BUCKET, Prefix=f"maps/{map_id}/original")
    return [v["VersionId"] for v in listed.get("Versions", [])], listed.get("DeleteMarkers", [])


def _fetch(pipeline, map_id, headers, variant=None):
    query = f"?variant={variant}" if variant else ""
    response = pipeline.client.http.get(f"/v1/maps/{map_id}/download{query}", headers=headers)
    assert response.status_code == 302, response.body
    got = requests.get(response.headers["Location"], timeout=30)
    assert got.status_code == 200
    return got.content, got.headers.get("Content-Encoding")


def _assert_serves_only(pipeline, map_id, headers, data):
    """Both downloads give the processed bytes, and the published checksum is theirs."""
    doc = body(pipeline.get(map_id, headers))
    assert doc["status"] == "ready", doc
    assert doc["sha256"] == hashlib.sha256(data).hexdigest()
    original, _ = _fetch(pipeline, map_id, headers, "original")
    assert original == data
    default, _ = _fetch(pipeline, map_id, headers)
    # The optimized variant (gzip for GeoJSON) is decoded by the HTTP client: the map itself.
    assert default == data
    assert doc["variants"]["optimized"]["kind"] == "gzip"


def _presigned_ready(pipeline, headers):
    created = pipeline.create_presigned(
        headers, filename="route.geojson", size=len(GEOJSON), visibility="public"
    )
    assert created.status_code == 201, created.body
    doc, upload = body(created)["map"], body(created)["upload"]
    assert pipeline.post_to_s3(upload, GEOJSON) in (200, 201, 204)
    pipeline.deliver_s3(doc["id"])
    assert pipeline.process_all() == {"batchItemFailures": []}
    return doc["id"], upload


def test_reused_presigned_slot_after_ready_changes_nothing(pipeline, users, s3, capsys):
    users.create("alice")
    alice = users.headers("alice")
    map_id, upload = _presigned_ready(pipeline, alice)
    _assert_serves_only(pipeline, map_id, alice, GEOJSON)
    (pinned,), _ = _versions(s3, map_id)

    # The slot's policy is still valid: S3 takes other bytes of the same size.
    assert pipeline.post_to_s3(upload, HTML) in (200, 201, 204)
    assert len(_versions(s3, map_id)[0]) == 2
    capsys.readouterr()
    pipeline.deliver_s3(map_id)  # S3's event for the new version
    pipeline.deliver_s3(map_id, version=pinned)  # and the first upload's, delivered again
    assert pipeline.receive() == []  # nothing is processed again
    assert [line["status"] for line in log_lines(capsys, "s3_stray_upload_removed")] == ["ready"]

    assert _versions(s3, map_id) == ([pinned], [])  # the stray bytes are gone for good
    _assert_serves_only(pipeline, map_id, alice, GEOJSON)
    _assert_serves_only(pipeline, map_id, {}, GEOJSON)  # a guest too (public)


def test_swap_between_registration_and_processing_is_not_processed(pipeline, users, s3):
    users.create("alice")
    alice = users.headers("alice")
    created = pipeline.create_presigned(alice, filename="route.geojson", size=len(GEOJSON))
    map_id, upload = body(created)["map"]["id"], body(created)["upload"]
    assert pipeline.post_to_s3(upload, GEOJSON) in (200, 201, 204)
    pipeline.deliver_s3(map_id)
    (pinned,), _ = _versions(s3, map_id)
    assert pipeline.post_to_s3(upload, HTML) in (200, 201, 204)  # before the job runs
    pipeline.deliver_s3(map_id)
    assert pipeline.process_all() == {"batchItemFailures": []}
    assert _versions(s3, map_id) == ([pinned], [])
    _assert_serves_only(pipeline, map_id, alice, GEOJSON)


def test_two_posts_before_any_event_publish_one_consistent_object(pipeline, users, s3):
    """Events arrive late and in reverse order: one version is pinned, processed and served,
    and the published checksum is the checksum of what is served."""
    users.create("alice")
    alice = users.headers("alice")
    created = pipeline.create_presigned(alice, filename="route.geojson", size=len(GEOJSON))
    map_id, upload = body(created)["map"]["id"], body(created)["upload"]
    assert pipeline.post_to_s3(upload, GEOJSON) in (200, 201, 204)
    first = _versions(s3, map_id)[0][0]
    assert pipeline.post_to_s3(upload, HTML) in (200, 201, 204)
    second = next(v for v in _versions(s3, map_id)[0] if v != first)
    pipeline.deliver_s3(map_id, version=second)
    pipeline.deliver_s3(map_id, version=first)
    pipeline.process_all()
    doc = body(pipeline.get(map_id, alice))
    assert _versions(s3, map_id) == ([second], [])
    # The pinned bytes are HTML: rejected, with their own checksum, never GeoJSON's.
    assert doc["status"] == "rejected"
    assert doc["error"]["code"] == "unsupported_format"
    assert doc["sha256"] == hashlib.sha256(HTML).hexdigest()


def test_declared_checksum_holds_against_a_second_post(pipeline, users, s3):
    users.create("alice")
    alice = users.headers("alice")
    sha = hashlib.sha256(GEOJSON).hexdigest()
    created = pipeline.create_presigned(
        alice, filename="route.geojson", size=len(GEOJSON), sha256=sha
    )
    map_id, upload = body(created)["map"]["id"], body(created)["upload"]
    assert pipeline.post_to_s3(upload, HTML) in (200, 201, 204)
    pipeline.deliver_s3(map_id)
    assert pipeline.post_to_s3(upload, GEOJSON) in (200, 201, 204)
    pipeline.deliver_s3(map_id)
    pipeline.process_all()
    doc = body(pipeline.get(map_id, alice))
    assert doc["status"] == "rejected"
    assert doc["error"]["code"] == "checksum_mismatch"


def test_direct_upload_map_ignores_a_later_write_under_its_key(pipeline, users, s3):
    """Direct uploads hand out no slot; bytes written under the key by any other means (a
    leaked credential, an operator's mistake) are treated as stray all the same."""
    users.create("alice")
    alice = users.headers("alice")
    created = pipeline.upload_direct(alice, GEOJSON, "route.geojson")
    assert created.status_code == 201, created.body
    assert "upload" not in body(created)
    map_id = body(created)["map"]["id"]
    pipeline.deliver_s3(map_id)
    pipeline.process_all()
    (pinned,), _ = _versions(s3, map_id)
    s3.put_object(Bucket=BUCKET, Key=f"maps/{map_id}/original", Body=HTML)
    pipeline.deliver_s3(map_id)
    assert _versions(s3, map_id) == ([pinned], [])
    _assert_serves_only(pipeline, map_id, alice, GEOJSON)


def test_deleting_a_map_removes_every_version(pipeline, users, s3):
    users.create("alice")
    alice = users.headers("alice")
    map_id, upload = _presigned_ready(pipeline, alice)
    assert pipeline.post_to_s3(upload, HTML) in (200, 201, 204)  # a stray version, not yet seen
    deleted = pipeline.client.http.delete(f"/v1/maps/{map_id}", headers=alice)
    assert deleted.status_code == 204
    listed = s3.list_object_versions(Bucket=BUCKET, Prefix=f"maps/{map_id}/")
    assert listed.get("Versions", []) == []
    assert listed.get("DeleteMarkers", []) == []


def test_overwrite_in_an_unversioned_bucket_rejects_the_map(pipeline, users, sql):
    """Without versioning the registered bytes are gone once overwritten: the map must not
    keep its published checksum over other bytes; it ends rejected with a reason."""
    from chalicelib import db

    users.create("alice")
    alice = users.headers("alice")
    created = pipeline.create_presigned(alice, filename="route.geojson", size=len(GEOJSON))
    map_id = body(created)["map"]["id"]
    key = f"maps/{map_id}/original"
    first = db.call(
        "pipeline.register_upload",
        p_object_key=key,
        p_size=len(GEOJSON),
        p_version=None,
        p_etag="aa",
    )
    assert first["action"] == "enqueue"
    again = db.call(
        "pipeline.register_upload",
        p_object_key=key,
        p_size=len(GEOJSON),
        p_version=None,
        p_etag="aa",
    )
    assert again["action"] == "enqueue"  # the same object: a duplicate event
    swapped = db.call(
        "pipeline.register_upload",
        p_object_key=key,
        p_size=len(GEOJSON),
        p_version=None,
        p_etag="bb",
    )
    assert swapped["action"] == "replaced"
    doc = body(pipeline.get(map_id, alice))
    assert doc["status"] == "rejected"
    assert doc["error"]["code"] == "object_replaced"
    row = sql.run("SELECT object_etag FROM app.maps WHERE id = :id", id=map_id)
    assert row == [["aa"]]


def test_processor_reads_the_pinned_version_not_the_current_one(pipeline, users, s3, sql):
    """Even if a stray version's event were lost, the job reads what was registered."""
    users.create("alice")
    alice = users.headers("alice")
    created = pipeline.create_presigned(alice, filename="route.geojson", size=len(GEOJSON))
    map_id, upload = body(created)["map"]["id"], body(created)["upload"]
    assert pipeline.post_to_s3(upload, GEOJSON) in (200, 201, 204)
    pipeline.deliver_s3(map_id)
    assert pipeline.post_to_s3(upload, HTML) in (200, 201, 204)  # its event never arrives
    pipeline.process_all()
    doc = body(pipeline.get(map_id, alice))
    assert doc["status"] == "ready"
    assert doc["sha256"] == hashlib.sha256(GEOJSON).hexdigest()
    original, _ = _fetch(pipeline, map_id, alice, "original")
    assert original == GEOJSON
    pinned = sql.run("SELECT object_version FROM app.maps WHERE id = :id", id=map_id)[0][0]
    current = s3.head_object(Bucket=BUCKET, Key=f"maps/{map_id}/original")["VersionId"]
    assert pinned != current
    assert json.loads(json.dumps(doc["metadata"]))["bbox"] == [7.0, 45.5, 8.0, 46.5]
