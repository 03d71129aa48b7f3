"""Previews: made in processing, stored next to the map, served like the map itself."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from tests.conftest import BUCKET, GEOJSON, body


def _ready(pipeline, headers, data, filename, **fields):
    created = pipeline.upload_direct(headers, data, filename, **fields)
    assert created.status_code == 201, created.body
    map_id = body(created)["map"]["id"]
    pipeline.deliver_s3(map_id)
    assert pipeline.process_all() == {"batchItemFailures": []}
    doc = body(pipeline.get(map_id, headers))
    assert doc["status"] == "ready", doc
    return doc


def _preview(pipeline, map_id, headers):
    return pipeline.client.http.get(f"/v1/maps/{map_id}/preview", headers=headers)


def test_a_ready_map_has_a_preview_served_like_the_map(pipeline, users, s3):
    users.create("alice")
    alice = users.headers("alice")
    doc = _ready(pipeline, alice, GEOJSON, "trails.geojson")
    preview = doc["preview"]
    assert preview["media_type"] in ("image/png", "image/webp")
    assert max(preview["width"], preview["height"]) <= 512
    response = _preview(pipeline, doc["id"], alice)
    assert response.status_code == 302
    assert response.headers["Cache-Control"].startswith("private, max-age=")
    fetched = requests.get(response.headers["Location"], timeout=30)
    assert fetched.status_code == 200
    assert fetched.headers["Content-Type"] == preview["media_type"]
    image = Image.open(io.BytesIO(fetched.content))
    assert image.size == (preview["width"], preview["height"])
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"maps/{doc['id']}/")["Contents"]
    assert f"maps/{doc['id']}/preview" in {o["Key"] for o in listed}
    as_json = pipeline.client.http.get(
        f"/v1/maps/{doc['id']}/preview?redirect=false", headers=alice
    )
    assert set(body(as_json)) == {"url", "expires_at"}

    # Deleting the map deletes its preview.
    assert pipeline.client.http.delete(f"/v1/maps/{doc['id']}", headers=alice).status_code == 204
    gone = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"maps/{doc['id']}/")
    assert gone.get("KeyCount", 0) == 0


@pytest.mark.parametrize(
    ("visibility", "guest", "member"),
    [("private", 404, 404), ("members", 404, 302), ("public", 302, 302)],
)
def test_preview_visibility_matches_the_map(pipeline, users, visibility, guest, member):
    users.create("alice")
    users.create("bob")
    alice, bob = users.headers("alice"), users.headers("bob")
    doc = _ready(pipeline, alice, GEOJSON, "t.geojson", visibility=visibility)
    assert _preview(pipeline, doc["id"], {}).status_code == guest
    assert _preview(pipeline, doc["id"], bob).status_code == member
    assert _preview(pipeline, doc["id"], alice).status_code == 302
    if guest == 404:  # not allowed looks exactly like missing
        missing = _preview(pipeline, "00000000-0000-4000-8000-000000000000", {})
        assert body(_preview(pipeline, doc["id"], {}))["message"] == body(missing)["message"]


def test_a_map_without_a_drawable_preview_is_ready_with_preview_null(pipeline, users):
    users.create("alice")
    alice = users.headers("alice")
    empty = b'{"type": "FeatureCollection", "features": []}'
    doc = _ready(pipeline, alice, empty, "empty.geojson")
    assert doc["preview"] is None
    response = _preview(pipeline, doc["id"], alice)
    assert response.status_code == 404
    assert body(response)["code"] == "not_found"


def test_a_renderer_failure_never_fails_the_map(pipeline, users, monkeypatch):
    from chalicelib.previews import render as preview

    def broken(*args, **kwargs):
        raise RuntimeError("renderer bug")

    monkeypatch.setattr(preview, "render_preview", broken)
    users.create("alice")
    doc = _ready(pipeline, users.headers("alice"), GEOJSON, "t.geojson")
    assert doc["preview"] is None
