"""make run keeps the bucket across restarts: restored objects get new version ids, and the
maps are pinned to them before any event is handled (else they would look like stray bytes)."""

from __future__ import annotations

import hashlib
import json

import requests

from chalicelib import db
from devstack import s3_snapshot
from tests.conftest import BUCKET, GEOJSON, body


def test_restore_repins_maps_so_events_and_downloads_still_work(
    pipeline, users, s3, sql, stack, tmp_path
):
    users.create("alice")
    alice = users.headers("alice")
    created = pipeline.upload_direct(alice, GEOJSON, "route.geojson")
    map_id = body(created)["map"]["id"]
    pipeline.deliver_s3(map_id)
    pipeline.process_all()
    key = f"maps/{map_id}/original"
    before = sql.run("SELECT object_version FROM app.maps WHERE id = :id", id=map_id)[0][0]
    assert before is not None

    saved, _ = s3_snapshot.save(s3, BUCKET, tmp_path, lambda: False)
    assert saved >= 2  # the original and its optimized variant
    # moto keeps objects in memory: a restart starts from an empty bucket.
    for version in s3.list_object_versions(Bucket=BUCKET, Prefix=f"maps/{map_id}/")["Versions"]:
        s3.delete_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])
    restored = s3_snapshot.restore(s3, BUCKET, tmp_path)
    mine = [r for r in restored if r["key"] == key]
    assert mine[0]["old"] == before and mine[0]["new"] not in (None, before)

    moved = sql.run(f"SELECT ops.repin_object_versions({db.literal(json.dumps(restored))})")[0][0]
    assert moved >= 1
    pipeline.deliver_s3(map_id)  # the restored object's own event
    assert s3.head_object(Bucket=BUCKET, Key=key)["VersionId"] == mine[0]["new"]
    response = pipeline.client.http.get(
        f"/v1/maps/{map_id}/download?variant=original", headers=alice
    )
    got = requests.get(response.headers["Location"], timeout=30).content
    assert hashlib.sha256(got).hexdigest() == body(pipeline.get(map_id, alice))["sha256"]
