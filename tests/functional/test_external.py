"""The long-job hand-off: external queue out, S3 result prefix back, timeouts, sweeps."""

from __future__ import annotations

import gzip
import io
import json

import pytest
import requests
from PIL import Image

from tests import external_worker
from tests.conftest import BUCKET, GEOJSON, body
from tests.events import s3_object_created, scheduled_event


@pytest.fixture
def low_threshold(monkeypatch):
    from chalicelib.config import get_settings

    monkeypatch.setenv("EXTERNAL_THRESHOLD_BYTES", "100")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _handed_off(pipeline, users, stack):
    users.create("alice")
    alice = users.headers("alice")
    map_id = body(pipeline.upload_direct(alice, GEOJSON, "big.geojson"))["map"]["id"]
    pipeline.deliver_s3(map_id)
    assert pipeline.process_all() == {"batchItemFailures": []}
    jobs = external_worker.take_jobs(pipeline.sqs, stack["external_url"])
    return alice, map_id, jobs


def _deliver_key(pipeline, key, size):
    pipeline.client.lambda_.invoke("on_upload", s3_object_created(BUCKET, key, size))


def test_large_map_goes_external_and_comes_back_ready(pipeline, users, stack, low_threshold, sql):
    alice, map_id, jobs = _handed_off(pipeline, users, stack)
    assert len(jobs) == 1
    job = jobs[0]
    assert job["map_id"] == map_id
    assert job["task"] == "gzip"
    assert job["source"]["key"] == f"maps/{map_id}/original"
    assert job["source"]["size"] == len(GEOJSON)
    assert job["output"]["result_key"] == f"maps/{map_id}/external/{job['job_id']}/result"
    waiting = body(pipeline.get(map_id, alice))
    assert (waiting["status"], waiting["stage"]) == ("processing", "external")
    assert waiting["metadata"]["bbox"] == [7.0, 45.5, 8.0, 46.5]  # inspection is already in
    assert waiting["preview"] is None  # shown once the map is ready, like the downloads

    result = external_worker.run_job(pipeline.s3, job)
    # S3 delivers the result event twice; both finalize jobs run: one effect.
    _deliver_key(pipeline, job["output"]["result_key"], len(result))
    _deliver_key(pipeline, job["output"]["result_key"], len(result))
    messages = pipeline.receive()
    assert len(messages) == 2
    assert pipeline.deliver_jobs(pipeline.records(messages)) == {"batchItemFailures": []}

    ready = body(pipeline.get(map_id, alice))
    assert ready["status"] == "ready", ready
    assert ready["variants"]["optimized"]["kind"] == "gzip"
    assert ready["variants"]["optimized"]["size"] == len(result)
    assert ready["variants"]["original"]["size"] == len(GEOJSON)
    # The preview is ours, drawn from the original before the hand-off; the result keeps it.
    preview = ready["preview"]
    assert preview is not None and preview["media_type"] in ("image/png", "image/webp")
    assert max(preview["width"], preview["height"]) == 512
    shown = pipeline.client.http.get(f"/v1/maps/{map_id}/preview", headers=alice)
    assert shown.status_code == 302
    image = requests.get(shown.headers["Location"], timeout=30)
    assert image.headers["Content-Type"] == preview["media_type"]
    with Image.open(io.BytesIO(image.content)) as drawn:
        assert drawn.size == (preview["width"], preview["height"])

    # Default download: the optimized variant, decoded by the HTTP client to the map itself.
    location = pipeline.client.http.get(f"/v1/maps/{map_id}/download", headers=alice).headers[
        "Location"
    ]
    fetched = requests.get(location, timeout=30)
    assert fetched.headers.get("Content-Encoding") == "gzip"
    assert fetched.content == GEOJSON
    raw = requests.get(location, timeout=30, stream=True).raw.read()
    assert gzip.decompress(raw) == GEOJSON
    original = pipeline.client.http.get(
        f"/v1/maps/{map_id}/download?variant=original", headers=alice
    ).headers["Location"]
    exact = requests.get(original, timeout=30)
    assert "Content-Encoding" not in exact.headers
    assert exact.content == GEOJSON


def test_unverified_result_is_dropped_and_a_good_one_still_accepted(
    pipeline, users, stack, low_threshold
):
    alice, map_id, jobs = _handed_off(pipeline, users, stack)
    job = jobs[0]
    bad = external_worker.run_job(pipeline.s3, job, corrupt_checksum=True)
    _deliver_key(pipeline, job["output"]["result_key"], len(bad))
    pipeline.process_all()
    doc = body(pipeline.get(map_id, alice))
    assert (doc["status"], doc["stage"]) == ("processing", "external")
    gone = pipeline.s3.list_objects_v2(Bucket=BUCKET, Prefix=job["output"]["result_key"])
    assert gone.get("KeyCount", 0) == 0

    good = external_worker.run_job(pipeline.s3, job)
    _deliver_key(pipeline, job["output"]["result_key"], len(good))
    pipeline.process_all()
    assert body(pipeline.get(map_id, alice))["status"] == "ready"


def test_result_for_a_stale_job_id_changes_nothing(pipeline, users, stack, low_threshold):
    alice, map_id, jobs = _handed_off(pipeline, users, stack)
    stale = {**jobs[0], "job_id": "11111111-1111-4111-8111-111111111111"}
    stale["output"] = {
        "bucket": BUCKET,
        "result_key": f"maps/{map_id}/external/{stale['job_id']}/result",
        "error_key": f"maps/{map_id}/external/{stale['job_id']}/error",
    }
    result = external_worker.run_job(pipeline.s3, stale)
    _deliver_key(pipeline, stale["output"]["result_key"], len(result))
    pipeline.process_all()
    assert body(pipeline.get(map_id, alice))["stage"] == "external"


def test_external_error_fails_the_map_with_its_reason(pipeline, users, stack, low_threshold):
    alice, map_id, jobs = _handed_off(pipeline, users, stack)
    external_worker.fail_job(pipeline.s3, jobs[0], "GDAL ran out of\x00 memory")
    _deliver_key(pipeline, jobs[0]["output"]["error_key"], 10)
    doc = body(pipeline.get(map_id, alice))
    assert doc["status"] == "failed"
    assert doc["error"] == {
        "code": "external_failed",
        "message": "External processing failed: GDAL ran out of memory",
    }


def test_jobs_that_never_come_back_time_out_to_failed(pipeline, users, stack, low_threshold, sql):
    alice, map_id, _ = _handed_off(pipeline, users, stack)
    sql.run(
        "UPDATE app.maps SET external_deadline = now() - interval '1 minute' WHERE id = :id",
        id=map_id,
    )
    first = pipeline.client.lambda_.invoke("sweeper", scheduled_event()).payload
    second = pipeline.client.lambda_.invoke("sweeper", scheduled_event()).payload
    assert first["timed_out"] == 1
    assert second["timed_out"] == 0
    doc = body(pipeline.get(map_id, alice))
    assert doc["status"] == "failed"
    assert doc["error"]["code"] == "external_timeout"


def test_sweep_removes_presigned_slots_never_used(pipeline, users, sql):
    users.create("bob")
    bob = users.headers("bob")
    created = body(pipeline.create_presigned(bob, filename="a.geojson", size=len(GEOJSON)))
    map_id = created["map"]["id"]
    sql.run(
        "UPDATE app.maps SET upload_expires_at = now() - interval '2 hours' WHERE id = :id",
        id=map_id,
    )
    result = pipeline.client.lambda_.invoke("sweeper", scheduled_event()).payload
    assert result["expired_uploads"] == [map_id]
    assert pipeline.get(map_id, bob).status_code == 404
    assert body(pipeline.client.http.get("/v1/me", headers=bob))["usage"]["maps"] == 0
    # The URL was handed out: a very late upload is an orphan, removed on its event.
    pipeline.post_to_s3(created["upload"], GEOJSON)
    pipeline.deliver_s3(map_id)
    listed = pipeline.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"maps/{map_id}/")
    assert listed.get("KeyCount", 0) == 0


def test_progress_is_visible_while_processing(pipeline, users, sql, monkeypatch):
    from chalicelib.pipeline import process as job

    users.create("cy")
    cy = users.headers("cy")
    map_id = body(pipeline.upload_direct(cy, GEOJSON, "a.geojson"))["map"]["id"]
    pipeline.deliver_s3(map_id)
    seen = []
    real = job._progress

    def spy(map_id_, lease, stage, percent):
        real(map_id_, lease, stage, percent)
        doc = body(pipeline.get(map_id, cy))
        seen.append((doc["status"], doc["stage"], doc["progress"]))

    monkeypatch.setattr(job, "_progress", spy)
    pipeline.process_all()
    assert seen[0] == ("processing", "inspect", 40)
    assert ("processing", "optimize", 60) in seen
    final = body(pipeline.get(map_id, cy))
    assert (final["status"], final["stage"], final["progress"]) == ("ready", None, 100)


def test_bad_variant_parameter(pipeline, users, sql):
    users.create("dee")
    dee = users.headers("dee")
    map_id = body(pipeline.upload_direct(dee, GEOJSON, "a.geojson"))["map"]["id"]
    sql.run("UPDATE app.maps SET status = 'ready' WHERE id = :id", id=map_id)
    assert (
        pipeline.client.http.get(
            f"/v1/maps/{map_id}/download?variant=best", headers=dee
        ).status_code
        == 400
    )
    missing = pipeline.client.http.get(f"/v1/maps/{map_id}/download?variant=optimized", headers=dee)
    assert missing.status_code == 404
    assert json.loads(missing.body)["code"] == "not_found"
