"""Fault injection: failed records, poison messages, dead workers, S3 errors, killed database
connections and racing duplicates never lose, double or strand a map."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from botocore.stub import Stubber

from chalicelib.handlers.sqs import BatchFailed
from tests.conftest import BUCKET, GEOJSON, QUEUE, body, fail_s3_reads, job_body
from tests.events import s3_object_created, scheduled_event, sqs_event, sqs_record

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def transitions(sql):
    """Every status change of every map, recorded by a trigger (test-only)."""
    sql.run("CREATE TABLE app.test_transitions (map_id uuid, old text, new text)")
    sql.run(
        "CREATE FUNCTION app.test_log_transition() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN INSERT INTO app.test_transitions VALUES (NEW.id, OLD.status, NEW.status); "
        "RETURN NEW; END $$"
    )
    sql.run(
        "CREATE TRIGGER test_transitions AFTER UPDATE OF status ON app.maps FOR EACH ROW "
        "WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION app.test_log_transition()"
    )
    yield lambda map_id: [
        (old, new)
        for old, new in sql.run(
            "SELECT old, new FROM app.test_transitions WHERE map_id = :id ORDER BY ctid", id=map_id
        )
    ]
    sql.run("DROP TABLE app.test_transitions")
    sql.run("DROP TRIGGER test_transitions ON app.maps")
    sql.run("DROP FUNCTION app.test_log_transition()")


def test_one_bad_record_among_ten(pipeline, alice, monkeypatch):

    ids = pipeline.upload_maps(alice, 10)
    bad = ids[3]
    records = [sqs_record(job_body(i), QUEUE) for i in ids]
    fail_s3_reads(monkeypatch, only=bad)
    result = pipeline.deliver_jobs(records)
    assert result == {"batchItemFailures": [{"itemIdentifier": records[3]["messageId"]}]}
    statuses = {i: body(pipeline.get(i, alice))["status"] for i in ids}
    assert statuses.pop(bad) == "uploaded"
    assert set(statuses.values()) == {"ready"}


def test_all_failed_batch_raises(pipeline, alice, monkeypatch):

    ids = pipeline.upload_maps(alice, 3)

    fail_s3_reads(monkeypatch)
    with pytest.raises(BatchFailed):
        pipeline.deliver_jobs([sqs_record(job_body(i), QUEUE) for i in ids])
    assert {body(pipeline.get(i, alice))["status"] for i in ids} == {"uploaded"}


def test_dead_letter_consumer_ends_stranded_maps_failed(pipeline, alice, sql):
    stranded, held, ready = pipeline.upload_maps(alice, 3)
    sql.run(
        "UPDATE app.maps SET status = 'processing', lease_token = gen_random_uuid(), "
        "lease_until = now() - interval '1 minute' WHERE id = :id",
        id=stranded,
    )
    sql.run(
        "UPDATE app.maps SET status = 'processing', lease_token = gen_random_uuid(), "
        "lease_until = now() + interval '10 minutes' WHERE id = :id",
        id=held,
    )
    sql.run("UPDATE app.maps SET status = 'ready' WHERE id = :id", id=ready)
    records = [sqs_record(job_body(i), f"{QUEUE}-dlq", 6) for i in (stranded, held, ready)]
    records.append(sqs_record("garbage", f"{QUEUE}-dlq"))
    result = pipeline.client.lambda_.invoke("on_dead_letter", sqs_event(records)).payload
    assert result == {"batchItemFailures": []}
    doc = body(pipeline.get(stranded, alice))
    assert (doc["status"], doc["error"]["code"]) == ("failed", "processing_failed")
    assert body(pipeline.get(held, alice))["status"] == "processing"
    assert body(pipeline.get(ready, alice))["status"] == "ready"


def test_sweeper_requeues_lost_jobs_and_ends_exhausted_ones(pipeline, alice, sql):
    lost, stalled, exhausted = pipeline.upload_maps(alice, 3)
    # lost: registered, but its job message never made it to the queue.
    sql.run("UPDATE app.maps SET updated_at = now() - interval '1 hour' WHERE id = :id", id=lost)
    # stalled: a worker died holding the lease; exhausted: the same, out of attempts.
    for map_id, attempts in ((stalled, 1), (exhausted, 5)):
        sql.run(
            "UPDATE app.maps SET status = 'processing', lease_token = gen_random_uuid(), "
            "lease_until = now() - interval '1 hour', attempts = :a WHERE id = :id",
            id=map_id,
            a=attempts,
        )
    result = pipeline.client.lambda_.invoke("sweeper", scheduled_event()).payload
    assert sorted(result["requeue"]) == sorted([lost, stalled])
    assert result["gave_up"] == 1
    assert pipeline.process_all() == {"batchItemFailures": []}
    assert body(pipeline.get(lost, alice))["status"] == "ready"
    assert body(pipeline.get(stalled, alice))["status"] == "ready"
    assert body(pipeline.get(exhausted, alice))["status"] == "failed"
    again = pipeline.client.lambda_.invoke("sweeper", scheduled_event()).payload
    assert (again["requeue"], again["gave_up"]) == ([], 0)


def test_s3_errors_in_the_event_handler_are_retried_not_lost(pipeline, alice):
    from chalicelib import storage

    (map_id,) = pipeline.upload_maps(alice)
    event = pipeline.s3_event(map_id)
    with Stubber(storage.client()) as stub:
        stub.add_client_error("head_object", "SlowDown", "Reduce your request rate.", 503)
        with pytest.raises(Exception, match="SlowDown"):
            pipeline.client.lambda_.invoke("on_upload", event)
    assert pipeline.receive() == []
    pipeline.client.lambda_.invoke("on_upload", event)  # Lambda's async retry
    pipeline.process_all()
    assert body(pipeline.get(map_id, alice))["status"] == "ready"


def test_s3_errors_in_the_processor_fail_the_record_only(pipeline, alice, monkeypatch):
    from botocore.exceptions import ClientError

    from chalicelib import storage

    (map_id,) = pipeline.upload_maps(alice)
    good = pipeline.upload_maps(alice)[0]
    records = [sqs_record(job_body(map_id), QUEUE), sqs_record(job_body(good), QUEUE)]
    client = storage.client()
    real_get = client.get_object
    errors = iter(["InternalError"])

    def get_object(**kwargs):
        code = next(errors, None)
        if code:  # the first read answers 500, as S3 sometimes does
            raise ClientError({"Error": {"Code": code, "Message": "internal"}}, "GetObject")
        return real_get(**kwargs)

    monkeypatch.setattr(client, "get_object", get_object)
    result = pipeline.deliver_jobs(records)
    assert result == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    assert body(pipeline.get(map_id, alice))["status"] == "uploaded"
    assert body(pipeline.get(good, alice))["status"] == "ready"
    pipeline.deliver_jobs([sqs_record(job_body(map_id), QUEUE, 2)])
    assert body(pipeline.get(map_id, alice))["status"] == "ready"


def _deliver_until_done(pipeline):
    """Deliver queued jobs as SQS would: failed records come back with a higher receive count."""
    receives = Counter()
    for _ in range(10):
        messages = pipeline.receive()
        if not messages:
            return
        for message in messages:
            receives[message["MessageId"]] += 1
        records = [
            sqs_record(m["Body"], QUEUE, receives[m["MessageId"]], m["MessageId"]) for m in messages
        ]
        try:
            failed = {
                f["itemIdentifier"] for f in pipeline.deliver_jobs(records)["batchItemFailures"]
            }
        except BatchFailed:
            failed = {r["messageId"] for r in records}
        for message in messages:
            if message["MessageId"] in failed:  # back on the queue, as visibility expiry does
                pipeline.sqs.send_message(
                    QueueUrl=pipeline.stack["queue_url"], MessageBody=message["Body"]
                )
                receives[message["MessageId"]] += 0
    raise AssertionError("jobs never finished")


def test_killed_database_connections_lose_double_or_strand_nothing(
    pipeline, alice, sql, transitions, monkeypatch
):
    """≥ 200 runs: the app's connection is terminated before a random database call."""
    from chalicelib import db

    rng = random.Random(20261122)
    real_call = db.call
    countdown = {"n": 0, "kills": 0}

    def killing_call(function, **kwargs):
        countdown["n"] -= 1
        if countdown["n"] == 0:
            # The next connection of the pool this call takes (newest first).
            with db.connection(function.split(".", 1)[0]) as conn:
                pid = conn.run("SELECT pg_backend_pid()")[0][0]
            sql.run("SELECT pg_terminate_backend(:pid, 5000)", pid=pid)
            countdown["kills"] += 1
        return real_call(function, **kwargs)

    monkeypatch.setattr(db, "call", killing_call)
    runs = int(os.environ.get("FAULT_RUNS", "200"))
    for _ in range(runs):
        countdown["n"] = rng.randint(1, 6)
        response = pipeline.upload_direct(alice, GEOJSON, "m.geojson")
        if response.status_code == 503:  # a client retries
            response = pipeline.upload_direct(alice, GEOJSON, "m.geojson")
        assert response.status_code == 201, response.body
        map_id = body(response)["map"]["id"]
        for _attempt in range(3):  # Lambda retries a failed async S3 invocation twice
            try:
                pipeline.deliver_s3(map_id)
                break
            except Exception:  # noqa: S112 - the retry below is the point
                continue
        _deliver_until_done(pipeline)

    assert countdown["kills"] >= runs * 0.9
    rows = sql.run("SELECT id::text, status, attempts, lease_token FROM app.maps")
    assert len(rows) == runs, "lost or doubled uploads"
    assert Counter(status for _, status, _, _ in rows) == {"ready": runs}
    assert all(lease is None for *_, lease in rows)
    for map_id, *_ in rows:
        steps = transitions(map_id)
        assert steps.count(("processing", "ready")) == 1, steps
        assert steps[-1] == ("processing", "ready")
        assert all(
            step
            in {("uploaded", "processing"), ("processing", "uploaded"), ("processing", "ready")}
            for step in steps
        ), steps


def test_racing_duplicate_events_from_separate_containers(pipeline, alice, sql, transitions):
    (map_id,) = pipeline.upload_maps(alice)
    s3_event = json.dumps(s3_object_created(BUCKET, f"maps/{map_id}/original", len(GEOJSON)))
    sqs = json.dumps(sqs_event([sqs_record(job_body(map_id), QUEUE)]))

    def race(kind, event, n):
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.functional.concurrent_worker", kind],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ},
            )
            for _ in range(n)
        ]
        outs = [p.communicate(event, timeout=120)[0] for p in procs]
        assert all(p.returncode == 0 for p in procs)
        return [json.loads(out.strip().splitlines()[-1]) for out in outs]

    registered = race("s3", s3_event, 3)
    assert all(r == ["enqueue"] for r in registered)
    pipeline.receive()  # the jobs they queued; the race below delivers the same job thrice
    processed = race("sqs", sqs, 3)
    assert processed == [{"batchItemFailures": []}] * 3
    assert transitions(map_id) == [("uploaded", "processing"), ("processing", "ready")]
    doc = body(pipeline.get(map_id, alice))
    assert doc["status"] == "ready"
    assert sql.run("SELECT attempts FROM app.maps WHERE id = :id", id=map_id)[0][0] == 1
    listed = pipeline.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"maps/{map_id}/")
    keys = sorted(o["Key"] for o in listed["Contents"])
    # One set of objects: the upload and at most one optimized variant and one preview.
    assert f"maps/{map_id}/original" in keys
    assert set(keys) <= {f"maps/{map_id}/{name}" for name in ("original", "optimized", "preview")}


def test_orphan_sweep_removes_only_old_objects_without_a_row(pipeline, alice, sql, monkeypatch):
    from chalicelib.config import get_settings

    (kept,) = pipeline.upload_maps(alice)
    orphan = "5a1c3f6e-0000-4000-8000-00000000beef"
    fresh_orphan = "5a1c3f6e-0000-4000-8000-00000000f00d"
    for map_id in (orphan, fresh_orphan):
        for name in ("original", "optimized"):
            pipeline.s3.put_object(
                Bucket=BUCKET,
                Key=f"maps/{map_id}/{name}",
                Body=b"x",
                ContentType="application/octet-stream",
            )
    pipeline.s3.put_object(
        Bucket=BUCKET, Key="maps/not-a-map/readme.txt", Body=b"x", ContentType="text/plain"
    )
    monkeypatch.setenv("UPLOAD_GRACE_SECONDS", "0")
    get_settings.cache_clear()
    from chalicelib import storage

    real_age = storage.newest_object_age_seconds
    monkeypatch.setattr(
        storage,
        "newest_object_age_seconds",
        lambda map_id: -1.0 if map_id == fresh_orphan else real_age(map_id),
    )
    first = pipeline.client.lambda_.invoke("orphan_sweeper", scheduled_event()).payload
    second = pipeline.client.lambda_.invoke("orphan_sweeper", scheduled_event()).payload
    get_settings.cache_clear()

    def keys(prefix):
        return [
            o["Key"]
            for o in pipeline.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        ]

    assert first["removed_objects"] >= 2  # earlier tests leave rowless objects too
    assert second["removed_objects"] == 0
    assert keys(f"maps/{orphan}/") == []
    assert len(keys(f"maps/{fresh_orphan}/")) == 2
    assert keys(f"maps/{kept}/") == [f"maps/{kept}/original"]
    assert keys("maps/not-a-map/") == ["maps/not-a-map/readme.txt"]
