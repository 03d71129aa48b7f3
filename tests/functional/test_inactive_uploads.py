"""A member whose subscription ended (deactivated by an admin, or active_until passed) cannot
upload through slots opened while active: part URLs and completion are refused, and bytes S3
takes anyway (a still-valid presigned POST, parts completed in S3) end the map `rejected`
with nothing left in the bucket. Admins are always active."""

from __future__ import annotations

import json

import pytest

from tests.conftest import BUCKET, GEOJSON, body
from tests.functional.test_multipart import (
    PART,
    _chunks,
    _complete,
    _create,
    _data,
    _post,
    _put,
    _state,
    _urls,
)

INACTIVE = "Your subscription is not active: uploading needs an active subscription."


def _deactivate(pipeline, users, username):
    """As the reviewer did: an admin's PATCH {"active_until": null}."""
    if "root" not in _usernames(users):
        users.create("root", role="admin")
    response = pipeline.client.http.patch(
        f"/v1/users/{username}",
        headers={**users.headers("root"), "Content-Type": "application/json"},
        body=json.dumps({"active_until": None}),
    )
    assert response.status_code == 200, response.body
    assert body(response)["active"] is False


def _usernames(users):
    return {row[0] for row in users.sql.run("SELECT username FROM app.users")}


def _lapse(sql, username):
    """The subscription simply ran out: no token is revoked."""
    sql.run(
        "UPDATE app.users SET active_until = now() - interval '1 second' WHERE username = :u",
        u=username,
    )


def _versions(s3, map_id):
    found = s3.list_object_versions(Bucket=BUCKET, Prefix=f"maps/{map_id}/")
    return found.get("Versions", []) + found.get("DeleteMarkers", [])


def _assert_inactive(response):
    assert response.status_code == 403, response.body
    assert (body(response)["code"], body(response)["message"]) == (
        "subscription_inactive",
        INACTIVE,
    )


def _assert_discarded(pipeline, s3, map_id, headers):
    doc = body(pipeline.get(map_id, headers))
    assert doc["status"] == "rejected", doc
    assert doc["error"]["code"] == "subscription_inactive"
    assert "subscription ended" in doc["error"]["message"]
    assert _versions(s3, map_id) == []
    assert s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"maps/{map_id}/").get("Uploads") is None
    assert pipeline.receive() == []  # nothing was queued for processing


@pytest.mark.parametrize("how", ["deactivated", "lapsed"])
def test_a_presigned_post_opened_while_active_is_not_kept(pipeline, users, sql, s3, how):
    users.create("frank")
    frank = users.headers("frank")
    created = pipeline.create_presigned(
        frank, filename="city.geojson", size=len(GEOJSON), visibility="public"
    )
    assert created.status_code == 201, created.body
    map_id, upload = body(created)["map"]["id"], body(created)["upload"]
    if how == "deactivated":
        _deactivate(pipeline, users, "frank")
    else:
        _lapse(sql, "frank")

    # S3 takes the bytes (the POST policy is still valid): the API cannot stop that...
    assert pipeline.post_to_s3(upload, GEOJSON) == 204
    event = pipeline.s3_event(map_id)
    pipeline.client.lambda_.invoke("on_upload", event)
    # ...but they are not registered: rejected, with the reason, and gone from the bucket.
    frank = users.headers("frank")  # a deactivation revoked the old token; he may log in again
    _assert_discarded(pipeline, s3, map_id, frank)
    assert pipeline.get(map_id, {}).status_code == 404  # never public

    # The same event again, and the slot used once more: still rejected, nothing kept.
    pipeline.client.lambda_.invoke("on_upload", event)
    assert pipeline.post_to_s3(upload, GEOJSON) == 204
    pipeline.deliver_s3(map_id, times=2)
    pipeline.process_all()
    _assert_discarded(pipeline, s3, map_id, frank)

    # He keeps his map as it is (sees it, deletes it) but cannot upload anew.
    _assert_inactive(pipeline.create_presigned(frank, filename="b.geojson", size=10))
    _assert_inactive(pipeline.upload_direct(frank, GEOJSON))
    assert pipeline.client.http.delete(f"/v1/maps/{map_id}", headers=frank).status_code == 204


@pytest.mark.parametrize("how", ["deactivated", "lapsed"])
def test_part_urls_and_completion_need_an_active_owner(pipeline, users, sql, s3, how):
    users.create("frank")
    frank = users.headers("frank")
    data = _data(1.5)
    map_id = body(_create(pipeline, frank, data, visibility="public"))["map"]["id"]
    chunks = _chunks(data, PART)
    urls = _urls(pipeline, map_id, frank, [1, 2])
    parts = [{"part_number": n, "etag": _put(urls[n]["url"], chunks[n])} for n in (1, 2)]
    if how == "deactivated":
        _deactivate(pipeline, users, "frank")
        frank = users.headers("frank")  # a token issued after the deactivation
    else:
        _lapse(sql, "frank")  # the same token, still valid

    _assert_inactive(
        _post(pipeline, f"/v1/maps/{map_id}/upload/parts", frank, {"part_numbers": [1]})
    )
    _assert_inactive(_complete(pipeline, map_id, frank, parts))
    assert body(pipeline.get(map_id, frank))["status"] == "awaiting_upload"
    assert s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"maps/{map_id}/").get("Uploads")
    # What he still may do with his own map: see the upload, abort it.
    assert _state(pipeline, map_id, frank).status_code == 200
    gone = pipeline.client.http.delete(f"/v1/maps/{map_id}/upload", headers=frank)
    assert gone.status_code == 204
    assert _versions(s3, map_id) == []
    assert s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"maps/{map_id}/").get("Uploads") is None


def test_a_multipart_object_completed_after_the_lapse_is_not_kept(pipeline, users, sql, s3):
    """S3 assembled the object (a completion racing the lapse, or straight through S3): its
    event finds the owner inactive, so the map is rejected and the object removed."""
    users.create("frank")
    frank = users.headers("frank")
    data = _data(1.5)
    created = body(_create(pipeline, frank, data))
    map_id = created["map"]["id"]
    chunks = _chunks(data, PART)
    urls = _urls(pipeline, map_id, frank, [1, 2])
    parts = [{"PartNumber": n, "ETag": _put(urls[n]["url"], chunks[n])} for n in (1, 2)]
    (upload,) = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"maps/{map_id}/")["Uploads"]
    _lapse(sql, "frank")
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key=f"maps/{map_id}/original",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
    )
    pipeline.deliver_s3(map_id, times=2)
    _assert_discarded(pipeline, s3, map_id, frank)
    # The map cannot be completed afterwards either (it is no longer awaiting its upload).
    again = _complete(pipeline, map_id, frank, [{"part_number": 1, "etag": "x"}])
    assert again.status_code in (403, 409), again.body


def test_finish_multipart_itself_refuses_an_inactive_owner(pipeline, users, sql):
    """The SQL rule under the route's check."""
    users.create("frank")
    data = _data(1.5)
    map_id = body(_create(pipeline, users.headers("frank"), data))["map"]["id"]
    _lapse(sql, "frank")
    frank = users.get("frank")
    with pytest.raises(Exception, match="subscription is not active"):
        sql.run(
            "SELECT api.finish_multipart(:caller::uuid, :tv, :id::uuid, 1, NULL, NULL)",
            caller=frank["id"],
            tv=frank["token_version"],
            id=map_id,
        )
    assert sql.run("SELECT status FROM app.maps WHERE id = :id", id=map_id) == [["awaiting_upload"]]


def test_an_admin_without_a_subscription_end_uploads_every_way(pipeline, users, s3):
    users.create("root", role="admin", days=None)
    root = users.headers("root")
    created = body(pipeline.create_presigned(root, filename="a.geojson", size=len(GEOJSON)))
    assert pipeline.post_to_s3(created["upload"], GEOJSON) == 204
    pipeline.deliver_s3(created["map"]["id"])
    assert pipeline.process_all() == {"batchItemFailures": []}
    assert body(pipeline.get(created["map"]["id"], root))["status"] == "ready"

    data = _data(1.5)
    map_id = body(_create(pipeline, root, data))["map"]["id"]
    chunks = _chunks(data, PART)
    urls = _urls(pipeline, map_id, root, [1, 2])
    parts = [{"part_number": n, "etag": _put(urls[n]["url"], chunks[n])} for n in (1, 2)]
    done = _complete(pipeline, map_id, root, parts)
    assert done.status_code == 200, done.body
    pipeline.deliver_s3(map_id)
    assert body(pipeline.get(map_id, root))["status"] == "uploaded"
