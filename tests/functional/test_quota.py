"""Per-member quotas (maps and bytes), enforced inside api.create_map."""

from __future__ import annotations

import json
import threading

from tests.conftest import GEOJSON, body, multipart


def _presign(client, headers, size):
    return client.http.post(
        "/v1/maps",
        headers={**headers, "Content-Type": "application/json"},
        body=json.dumps({"filename": "m.tif", "size": size}),
    )


def test_map_count_quota(client, users, sql):
    users.create("alice")
    sql.run("UPDATE app.users SET quota_maps = 2 WHERE username = 'alice'")
    alice = users.headers("alice")
    assert _presign(client, alice, 10).status_code == 201
    assert _presign(client, alice, 10).status_code == 201
    third = _presign(client, alice, 10)
    assert third.status_code == 403
    assert body(third)["code"] == "quota_exceeded"
    me = body(client.http.get("/v1/me", headers=alice))
    assert me["usage"] == {"maps": 2, "bytes": 20}
    assert me["quota"]["maps"] == 2


def test_byte_quota_counts_declared_sizes(client, users, sql):
    users.create("bob")
    sql.run("UPDATE app.users SET quota_bytes = 1000 WHERE username = 'bob'")
    bob = users.headers("bob")
    assert _presign(client, bob, 600).status_code == 201
    over = _presign(client, bob, 401)
    assert over.status_code == 403
    assert body(over)["code"] == "quota_exceeded"
    assert _presign(client, bob, 400).status_code == 201
    payload, content_type = multipart({}, ("m.geojson", GEOJSON))
    direct = client.http.post(
        "/v1/maps", headers={**bob, "Content-Type": content_type}, body=payload
    )
    assert direct.status_code == 403
    assert sql.run("SELECT count(*) FROM app.maps")[0][0] == 2


def test_concurrent_uploads_cannot_overshoot_the_quota(stack, users, sql):
    from chalicelib import db

    users.create("carol")
    sql.run("UPDATE app.users SET quota_maps = 3 WHERE username = 'carol'")
    user = users.get("carol")
    outcomes = []

    def create(i):
        conn = db.connect(stack["DATABASE_URL"])
        try:
            conn.run(
                "SELECT api.create_map(p_caller => :c, p_token_version => :v, "
                "p_id => gen_random_uuid(), "
                "p_object_key => 'maps/' || gen_random_uuid() || '/original', p_title => 't', "
                "p_description => NULL, p_filename => 'f', p_visibility => NULL, p_size => 1, "
                "p_sha256 => NULL, p_direct => false, p_request_id => NULL, "
                "p_upload_ttl_seconds => 60, p_default_quota_maps => 1000, "
                "p_default_quota_bytes => 1000000)",
                c=user["id"],
                v=user["token_version"],
            )
            outcomes.append("ok")
        except Exception as exc:
            outcomes.append(exc.args[0]["C"])
        finally:
            conn.close()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["MSQTA"] * 5 + ["ok"] * 3
    assert sql.run("SELECT count(*) FROM app.maps")[0][0] == 3
