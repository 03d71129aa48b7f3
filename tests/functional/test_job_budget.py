"""One time budget per processing job: slow S3 reads and slow inspections are retried (then end
`failed`, out of time), too expensive content is rejected, a job short of time keeps its map
without a variant, and a batch out of time leaves its later jobs unstarted and unharmed."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib.formats import geojson
from chalicelib.handlers.sqs import BatchFailed
from chalicelib.pipeline import budget
from chalicelib.pipeline import process as job_pipeline
from tests.conftest import BUCKET, QUEUE, body, job_body, log_lines, slow_s3_reads
from tests.events import sqs_event, sqs_record

RESERVE_MS = budget.RECORD_RESERVE_SECONDS * 1000
# Big enough for its gzip variant to be worth keeping.
FEATURES = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": f"trail {i}"},
                "geometry": {"type": "LineString", "coordinates": [[7.0, 45.5], [8.0, 46.5]]},
            }
            for i in range(200)
        ],
    }
).encode()


@pytest.fixture
def spinning_inspector(monkeypatch):
    """GeoJSON inspection that never ends on its own (a hostile file's worst case)."""
    calls = []

    def spin(path):
        calls.append(path)
        while True:
            time.sleep(0.005)

    monkeypatch.setattr(geojson, "inspect_geojson", spin)
    return calls


def test_spooling_past_the_budget_is_retried_then_fails_out_of_time(
    pipeline, alice, monkeypatch, capsys
):
    (map_id,) = pipeline.upload_maps(alice)
    slow_s3_reads(monkeypatch, 0.05)  # 0.5 s for the object; the job has 0.3 s
    with pytest.raises(BatchFailed):  # the batch's only record: SQS retries it
        pipeline.deliver_jobs([sqs_record(job_body(map_id), QUEUE, 1)], RESERVE_MS + 300)
    doc = body(pipeline.get(map_id, alice))
    assert (doc["status"], doc["error"]) == ("uploaded", None)  # released, not failed

    result = pipeline.deliver_jobs([sqs_record(job_body(map_id), QUEUE, 5)], RESERVE_MS + 300)
    assert result == {"batchItemFailures": []}  # the last attempt: done with, deleted
    doc = body(pipeline.get(map_id, alice))
    assert (doc["status"], doc["error"]["code"]) == ("failed", "processing_failed")
    assert "ran out of time while reading the upload" in doc["error"]["message"]

    timings = log_lines(capsys, "job_time")
    assert [t["outcome"] for t in timings] == ["released", "failed"]
    for timing in timings:
        assert timing["budget_s"] <= 0.3 <= timing["used_s"]
        assert 0 < timing["steps_s"]["spool"] < 0.5  # stopped before the whole object came
        assert "inspect" not in timing["steps_s"]


def test_inspection_past_its_cap_is_rejected_too_large(
    pipeline, alice, monkeypatch, spinning_inspector
):
    (map_id,) = pipeline.upload_maps(alice)
    monkeypatch.setattr(job_pipeline, "INSPECT_CAP_SECONDS", 0.2)
    started = time.monotonic()
    result = pipeline.deliver_jobs([sqs_record(job_body(map_id), QUEUE, 1)])  # 60 s left
    assert time.monotonic() - started < 1.5
    assert result == {"batchItemFailures": []}
    doc = body(pipeline.get(map_id, alice))
    assert (doc["status"], doc["error"]["code"]) == ("rejected", "too_large")
    assert len(spinning_inspector) == 1


def test_inspection_cut_by_the_job_deadline_is_retried_not_rejected(
    pipeline, alice, monkeypatch, spinning_inspector
):
    (map_id,) = pipeline.upload_maps(alice)
    monkeypatch.setattr(job_pipeline, "MIN_INSPECT_SECONDS", 0.05)
    # The job has 0.4 s: far below the inspection cap, so the job's deadline is what cuts it.
    with pytest.raises(BatchFailed):
        pipeline.deliver_jobs([sqs_record(job_body(map_id), QUEUE, 1)], RESERVE_MS + 400)
    doc = body(pipeline.get(map_id, alice))
    assert (doc["status"], doc["error"]) == ("uploaded", None)
    assert len(spinning_inspector) == 1

    pipeline.deliver_jobs([sqs_record(job_body(map_id), QUEUE, 5)], RESERVE_MS + 400)
    doc = body(pipeline.get(map_id, alice))
    assert (doc["status"], doc["error"]["code"]) == ("failed", "processing_failed")
    assert "ran out of time while inspecting the file" in doc["error"]["message"]


def test_inspection_is_not_started_with_too_little_time_left(
    pipeline, alice, spinning_inspector, capsys
):
    (map_id,) = pipeline.upload_maps(alice)
    with pytest.raises(BatchFailed):  # 2 s left: less than MIN_INSPECT_SECONDS
        pipeline.deliver_jobs([sqs_record(job_body(map_id), QUEUE, 1)], RESERVE_MS + 2000)
    assert spinning_inspector == []
    assert body(pipeline.get(map_id, alice))["status"] == "uploaded"
    (error,) = log_lines(capsys, "job_error")
    assert (error["error"], error["step"], error["final"]) == ("OutOfTime", "inspect", False)


def test_optimization_with_too_little_time_left_keeps_the_map_without_variant(
    pipeline, alice, capsys
):
    short, roomy = pipeline.upload_maps(alice, 2, FEATURES)
    # 8 s: inspection starts (>= 5 s), but after the store reserve (>= 5 s) less than
    # MIN_OPTIMIZE_SECONDS would be left for the optimizer.
    result = pipeline.deliver_jobs([sqs_record(job_body(short), QUEUE, 1)], RESERVE_MS + 8000)
    assert result == {"batchItemFailures": []}
    doc = body(pipeline.get(short, alice))
    assert (doc["status"], doc["format"]) == ("ready", "geojson")
    assert (doc["variants"] or {}).get("optimized") is None
    listed = pipeline.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"maps/{short}/")
    assert [o["Key"] for o in listed["Contents"]] == [f"maps/{short}/original"]
    (skipped,) = log_lines(capsys, "optimize_skipped")
    assert skipped["reason"] == "too little time left"

    # With the whole invocation's time, the same content gets its variant.
    assert pipeline.deliver_jobs([sqs_record(job_body(roomy), QUEUE, 1)]) == {
        "batchItemFailures": []
    }
    assert body(pipeline.get(roomy, alice))["variants"]["optimized"]["kind"] == "gzip"


def test_batch_out_of_time_leaves_later_jobs_unstarted_and_alive(pipeline, alice, sql, capsys):
    first, *later = pipeline.upload_maps(alice, 3)
    # On their last receive: reporting them failed would send them to the DLQ (map failed).
    records = [sqs_record(job_body(i), QUEUE, 5) for i in (first, *later)]
    remaining_ms = RESERVE_MS + (budget.MIN_JOB_SECONDS - 1) * 1000
    assert pipeline.deliver_jobs(records, remaining_ms) == {"batchItemFailures": []}

    assert body(pipeline.get(first, alice))["status"] == "ready"  # the first always starts
    for map_id in later:
        assert body(pipeline.get(map_id, alice))["status"] == "uploaded"
        attempts = sql.run("SELECT attempts FROM app.maps WHERE id = :id", id=map_id)[0][0]
        assert attempts == 0  # never claimed
    assert {d["map_id"] for d in log_lines(capsys, "job_deferred")} == set(later)

    # Queued again as new messages that remember the receives really used.
    messages = pipeline.receive()
    jobs = [json.loads(m["Body"]) for m in messages]
    assert sorted(j["map_id"] for j in jobs) == sorted(later)
    assert {j["earlier_receives"] for j in jobs} == {4}
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in messages} == {"1"}
    assert pipeline.deliver_jobs(pipeline.records(messages)) == {"batchItemFailures": []}
    assert {body(pipeline.get(i, alice))["status"] for i in later} == {"ready"}


def test_earlier_receives_count_towards_the_final_attempt(pipeline, alice, monkeypatch):
    from tests.conftest import fail_s3_reads

    (map_id,) = pipeline.upload_maps(alice)
    fail_s3_reads(monkeypatch)
    job = job_body(map_id, earlier_receives=4)
    assert pipeline.deliver_jobs([sqs_record(job, QUEUE, 1)]) == {"batchItemFailures": []}
    doc = body(pipeline.get(map_id, alice))
    assert (doc["status"], doc["error"]["code"]) == ("failed", "processing_failed")


def test_plain_event_without_context_gets_the_configured_budget(
    pipeline, alice, monkeypatch, capsys
):
    from chalicelib.config import get_settings
    from chalicelib.handlers import sqs

    (map_id,) = pipeline.upload_maps(alice)
    monkeypatch.setenv("JOB_BUDGET_SECONDS", "77")
    get_settings.cache_clear()
    try:
        result = sqs.process_batch(sqs_event([sqs_record(job_body(map_id), QUEUE, 1)]))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result == {"batchItemFailures": []}
    assert body(pipeline.get(map_id, alice))["status"] == "ready"
    (timing,) = log_lines(capsys, "job_time")
    assert timing["outcome"] == "ready"
    assert timing["budget_s"] == 77
    assert set(timing["steps_s"]) >= {"spool", "inspect", "optimize", "record"}
