"""DELETE /v1/maps/{id} while the map's job runs: the job stops at its next checkpoint, and
whatever it stored after the DELETE it removes itself (every version): nothing of the map
stays in the bucket, and no `map_ready` is logged for it."""

from __future__ import annotations

import json

import pytest

from tests.conftest import BUCKET, body, log_lines, slow_s3_reads

# Many features: large enough for a gzip variant, and drawn as a preview.
TRAILS = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": f"trail {i}"},
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[7.0 + i / 100, 45.5], [7.5, 46.0 + i / 100]],
                },
            }
            for i in range(50)
        ],
    }
).encode()


def _versions(s3, map_id):
    listed = s3.list_object_versions(Bucket=BUCKET, Prefix=f"maps/{map_id}/")
    return sorted(
        v["Key"].rsplit("/", 1)[1]
        for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])
    )


def _uploaded(pipeline, alice):
    created = pipeline.upload_direct(alice, TRAILS, "trails.geojson")
    assert created.status_code == 201, created.body
    map_id = body(created)["map"]["id"]
    pipeline.deliver_s3(map_id)
    return map_id


def _delete(pipeline, map_id, alice):
    response = pipeline.client.http.delete(f"/v1/maps/{map_id}", headers=alice)
    assert response.status_code == 204, response.body


def test_an_undisturbed_job_stores_a_variant_and_a_preview(pipeline, alice, s3):
    # The baseline the tests below take away from: this map's job writes both outputs.
    map_id = _uploaded(pipeline, alice)
    assert pipeline.process_all() == {"batchItemFailures": []}
    doc = body(pipeline.get(map_id, alice))
    assert doc["status"] == "ready"
    assert doc["variants"]["optimized"]["kind"] == "gzip"
    assert doc["preview"] is not None
    assert _versions(s3, map_id) == ["optimized", "original", "preview"]


@pytest.mark.parametrize("after", ["optimized", "preview"])
def test_delete_after_an_output_is_stored_leaves_no_object(
    pipeline, alice, s3, capsys, monkeypatch, after
):
    from chalicelib import storage

    map_id = _uploaded(pipeline, alice)
    real_put = storage.put_file

    def put_then_delete(key, *args, **kwargs):
        real_put(key, *args, **kwargs)
        if key == f"maps/{map_id}/{after}":
            _delete(pipeline, map_id, alice)  # the owner deletes the map right then

    monkeypatch.setattr(storage, "put_file", put_then_delete)
    capsys.readouterr()
    assert pipeline.process_all() == {"batchItemFailures": []}

    assert _versions(s3, map_id) == []
    assert pipeline.get(map_id, alice).status_code == 404
    abandoned = log_lines(capsys, "job_abandoned")
    assert [(line["reason"], line["map_id"]) for line in abandoned] == [("deleted", map_id)]
    # Stopped at the next checkpoint: after the variant, the preview is never drawn.
    assert abandoned[0]["step"] == ("preview" if after == "optimized" else "record")


def test_delete_while_the_upload_is_read_stops_the_job_mid_read(
    pipeline, alice, s3, capsys, monkeypatch
):
    from chalicelib.pipeline import budget, process

    map_id = _uploaded(pipeline, alice)
    monkeypatch.setattr(budget, "PROBE_SECONDS", 0.0)  # every chunk asks
    slow_s3_reads(monkeypatch, seconds_per_chunk=0.0, chunks=10)
    real_watch = process._watch
    chunks = [0]

    def watch_and_delete(map_id_, lease, job):
        real_watch(map_id_, lease, job)
        still_ours = job._still_ours

        def probe():
            chunks[0] += 1
            if chunks[0] == 3:
                _delete(pipeline, map_id, alice)
            return still_ours()

        job._still_ours = probe

    monkeypatch.setattr(process, "_watch", watch_and_delete)
    optimized = []
    monkeypatch.setattr(process, "_optimize", lambda *a: optimized.append(a))
    capsys.readouterr()
    assert pipeline.process_all() == {"batchItemFailures": []}

    assert chunks[0] == 3  # no chunk read after the DELETE was noticed
    assert optimized == []
    assert _versions(s3, map_id) == []
    (line,) = log_lines(capsys, "job_abandoned")
    assert (line["reason"], line["step"]) == ("deleted", "spool")


def test_no_map_ready_is_logged_for_a_deleted_map(pipeline, alice, s3, capsys, monkeypatch):
    from chalicelib import db

    map_id = _uploaded(pipeline, alice)
    real_call = db.call

    def call(function, **kwargs):
        if function == "pipeline.complete_processing":
            _delete(pipeline, map_id, alice)  # the DELETE lands just before the job records
        return real_call(function, **kwargs)

    monkeypatch.setattr(db, "call", call)
    capsys.readouterr()
    assert pipeline.process_all() == {"batchItemFailures": []}
    out = capsys.readouterr().out
    events = [json.loads(line)["event"] for line in out.splitlines() if line[:1] == "{"]
    assert "map_ready" not in events
    assert "job_abandoned" in events
    assert _versions(s3, map_id) == []


def test_a_lease_taken_over_keeps_the_map_and_its_outputs(pipeline, alice, s3, sql, capsys):
    # Not deleted, only no longer this job's (a second worker took the expired lease): the job
    # stops without recording, and removes nothing the map's current job relies on.
    from chalicelib.pipeline import outcome
    from chalicelib.pipeline.budget import Cancelled

    map_id = _uploaded(pipeline, alice)
    assert pipeline.process_all() == {"batchItemFailures": []}
    capsys.readouterr()
    assert outcome.abandon(map_id, Cancelled("record")) == "stale"
    (line,) = log_lines(capsys, "job_abandoned")
    assert line["reason"] == "lease_lost"
    assert _versions(s3, map_id) == ["optimized", "original", "preview"]
    assert body(pipeline.get(map_id, alice))["status"] == "ready"
