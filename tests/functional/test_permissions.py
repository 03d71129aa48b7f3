"""Every cell of actor x visibility x action, asserted against the contract's rules."""

from __future__ import annotations

import json

import pytest

from tests.conftest import GEOJSON, body

ACTORS = ("guest", "deactivated", "other", "owner", "admin")
VISIBILITIES = ("private", "members", "public")

# Expected status per action: (actor, visibility) -> status.
SEE = {
    ("guest", "private"): 404,
    ("guest", "members"): 404,
    ("guest", "public"): 200,
    ("deactivated", "private"): 404,
    ("deactivated", "members"): 404,
    ("deactivated", "public"): 200,
    ("other", "private"): 404,
    ("other", "members"): 200,
    ("other", "public"): 200,
    ("owner", "private"): 200,
    ("owner", "members"): 200,
    ("owner", "public"): 200,
    ("admin", "private"): 200,
    ("admin", "members"): 200,
    ("admin", "public"): 200,
}


def _change(actor: str, visibility: str, ok: int) -> int:
    """Patch/delete: owner and admin may; guests must log in; others see 403 or (hidden) 404."""
    if actor in ("owner", "admin"):
        return ok
    if actor == "guest":
        return 401
    return 403 if SEE[(actor, visibility)] == 200 else 404


@pytest.fixture
def world(client, users, sql):
    users.create("owner")
    users.create("other")
    users.create("lapsed", days=-1)
    users.create("root", role="admin", days=None)
    headers = {
        "guest": {},
        "deactivated": users.headers("lapsed"),
        "other": users.headers("other"),
        "owner": users.headers("owner"),
        "admin": users.headers("root"),
    }

    def make_map(visibility: str) -> str:
        payload, content_type = __import__("tests.conftest", fromlist=["multipart"]).multipart(
            {"visibility": visibility}, ("m.geojson", GEOJSON)
        )
        response = client.http.post(
            "/v1/maps", headers={**headers["owner"], "Content-Type": content_type}, body=payload
        )
        assert response.status_code == 201, response.body
        map_id = body(response)["map"]["id"]
        # Skip processing: these tests are about who may do what with a ready map.
        sql.run(
            "UPDATE app.maps SET status = 'ready', format = 'geojson' WHERE id = :id", id=map_id
        )
        return map_id

    return headers, make_map


@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("actor", ACTORS)
def test_get(world, client, actor, visibility):
    headers, make_map = world
    map_id = make_map(visibility)
    response = client.http.get(f"/v1/maps/{map_id}", headers=headers[actor])
    assert response.status_code == SEE[(actor, visibility)]
    if response.status_code == 404:
        # Not allowed is indistinguishable from missing.
        missing = client.http.get(
            "/v1/maps/00000000-0000-4000-8000-000000000000", headers=headers[actor]
        )
        assert body(missing)["message"] == body(response)["message"]
        assert body(missing)["code"] == body(response)["code"] == "not_found"
    else:
        assert body(response)["id"] == map_id


@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("actor", ACTORS)
def test_download(world, client, actor, visibility):
    headers, make_map = world
    map_id = make_map(visibility)
    response = client.http.get(f"/v1/maps/{map_id}/download", headers=headers[actor])
    expected = 302 if SEE[(actor, visibility)] == 200 else 404
    assert response.status_code == expected
    if expected == 302:
        assert f"maps/{map_id}/original" in response.headers["Location"]


@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("actor", ACTORS)
def test_patch(world, client, actor, visibility):
    headers, make_map = world
    map_id = make_map(visibility)
    response = client.http.patch(
        f"/v1/maps/{map_id}",
        headers={**headers[actor], "Content-Type": "application/json"},
        body=json.dumps({"title": "Renamed"}),
    )
    assert response.status_code == _change(actor, visibility, 200)
    owner_view = body(client.http.get(f"/v1/maps/{map_id}", headers=headers["owner"]))
    assert (owner_view["title"] == "Renamed") == (response.status_code == 200)


@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("actor", ACTORS)
def test_delete(world, client, s3, actor, visibility):
    headers, make_map = world
    map_id = make_map(visibility)
    response = client.http.delete(f"/v1/maps/{map_id}", headers=headers[actor])
    assert response.status_code == _change(actor, visibility, 204)
    still_there = client.http.get(f"/v1/maps/{map_id}", headers=headers["owner"]).status_code
    assert still_there == (404 if response.status_code == 204 else 200)
    objects = s3.list_objects_v2(Bucket="mapstock-maps-local", Prefix=f"maps/{map_id}/")
    assert (objects.get("KeyCount", 0) == 0) == (response.status_code == 204)


@pytest.mark.parametrize("actor", ACTORS)
def test_browse(world, client, actor):
    headers, make_map = world
    ids = {v: make_map(v) for v in VISIBILITIES}
    response = client.http.get("/v1/maps", headers=headers[actor])
    assert response.status_code == 200
    listed = {item["id"] for item in body(response)["items"]}
    expected = {ids[v] for v in VISIBILITIES if SEE[(actor, v)] == 200}
    assert listed == expected


def test_deactivated_owner_keeps_own_maps_but_cannot_upload(client, users, sql):
    users.create("pat")
    pat = users.headers("pat")
    from tests.conftest import multipart

    payload, content_type = multipart({}, ("m.geojson", GEOJSON))
    map_id = body(
        client.http.post("/v1/maps", headers={**pat, "Content-Type": content_type}, body=payload)
    )["map"]["id"]
    sql.run("UPDATE app.maps SET status = 'ready' WHERE id = :id", id=map_id)
    sql.run("UPDATE app.users SET active_until = now() - interval '1 day' WHERE username = 'pat'")

    assert client.http.get(f"/v1/maps/{map_id}", headers=pat).status_code == 200
    assert client.http.get(f"/v1/maps/{map_id}/download", headers=pat).status_code == 302
    listed = body(client.http.get("/v1/maps?owner=me", headers=pat))["items"]
    assert [m["id"] for m in listed] == [map_id]
    denied = client.http.post(
        "/v1/maps", headers={**pat, "Content-Type": content_type}, body=payload
    )
    assert denied.status_code == 403
    assert body(denied)["code"] == "subscription_inactive"
    me = body(client.http.get("/v1/me", headers=pat))
    assert me["active"] is False
    patched = client.http.patch(
        f"/v1/maps/{map_id}",
        headers={**pat, "Content-Type": "application/json"},
        body=json.dumps({"visibility": "public"}),
    )
    assert patched.status_code == 200
    assert client.http.delete(f"/v1/maps/{map_id}", headers=pat).status_code == 204


def test_non_ready_maps_are_visible_to_owner_only(client, users):
    users.create("quinn")
    users.create("rita")
    from tests.conftest import multipart

    payload, content_type = multipart({"visibility": "public"}, ("m.geojson", GEOJSON))
    quinn = users.headers("quinn")
    map_id = body(
        client.http.post("/v1/maps", headers={**quinn, "Content-Type": content_type}, body=payload)
    )["map"]["id"]
    assert client.http.get(f"/v1/maps/{map_id}", headers=quinn).status_code == 200
    assert client.http.get(f"/v1/maps/{map_id}", headers=users.headers("rita")).status_code == 404
    assert client.http.get(f"/v1/maps/{map_id}").status_code == 404
    not_ready = client.http.get(f"/v1/maps/{map_id}/download", headers=quinn)
    assert not_ready.status_code == 409
    assert body(not_ready)["code"] == "not_ready"
