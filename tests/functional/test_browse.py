"""Browse: keyset pagination, every filter of the contract, bbox intersection."""

from __future__ import annotations

import json

import pytest

from tests.conftest import GEOJSON, body, multipart


@pytest.fixture
def catalogue(client, users, sql):
    """Twelve ready public maps of two owners, with formats, words and boxes to filter on."""
    users.create("alice")
    users.create("bob")
    made = []
    for i in range(12):
        owner = "alice" if i % 2 == 0 else "bob"
        fields = {
            "visibility": "public",
            "title": f"Map {i}",
            "description": "alpine hiking trails" if i < 4 else "city plan",
        }
        payload, content_type = multipart(fields, (f"sheet_{i}.geojson", GEOJSON))
        doc = body(
            client.http.post(
                "/v1/maps",
                headers={**users.headers(owner), "Content-Type": content_type},
                body=payload,
            )
        )["map"]
        # Boxes march east in 10-degree steps: map i covers lon [10i, 10i+5], lat [0, 5].
        sql.run(
            "UPDATE app.maps SET status = 'ready', format = :f, "
            "bbox = box(point(:x, 0), point(:x + 5, 5)) WHERE id = :id",
            f="geojson" if i % 3 else "geotiff",
            x=float(10 * i),
            id=doc["id"],
        )
        made.append(doc["id"])
    return list(reversed(made))  # newest first


def _ids(response):
    assert response.status_code == 200, response.body
    return [m["id"] for m in body(response)["items"]]


def test_pages_walk_every_map_once_newest_first(client, catalogue):
    seen, cursor = [], None
    while True:
        url = "/v1/maps?limit=5" + (f"&cursor={cursor}" if cursor else "")
        page = body(client.http.get(url))
        seen.extend(m["id"] for m in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == catalogue
    assert body(client.http.get("/v1/maps"))["next_cursor"] is None  # 12 < default 20


def test_cursor_stays_stable_when_new_maps_arrive(client, catalogue, users):
    first = body(client.http.get("/v1/maps?limit=4"))
    payload, content_type = multipart({"visibility": "public"}, ("new.geojson", GEOJSON))
    client.http.post(
        "/v1/maps", headers={**users.headers("alice"), "Content-Type": content_type}, body=payload
    )
    second = _ids(client.http.get(f"/v1/maps?limit=4&cursor={first['next_cursor']}"))
    assert second == catalogue[4:8]


def test_filters(client, catalogue, users):
    assert len(_ids(client.http.get("/v1/maps?owner=alice"))) == 6
    assert len(_ids(client.http.get("/v1/maps?owner=ALICE"))) == 6
    assert _ids(client.http.get("/v1/maps?owner=nobody")) == []
    assert len(_ids(client.http.get("/v1/maps?owner=me", headers=users.headers("bob")))) == 6
    assert client.http.get("/v1/maps?owner=me").status_code == 401
    assert len(_ids(client.http.get("/v1/maps?format=geotiff"))) == 4
    assert len(_ids(client.http.get("/v1/maps?visibility=public"))) == 12
    assert _ids(client.http.get("/v1/maps?visibility=private")) == []
    assert len(_ids(client.http.get("/v1/maps?q=alpine"))) == 4
    assert len(_ids(client.http.get("/v1/maps?q=Alp%20TRAIL"))) == 4  # prefixes, any case
    assert len(_ids(client.http.get("/v1/maps?q=sheet_3"))) == 1  # filename words
    assert _ids(client.http.get("/v1/maps?q=nonexistentword")) == []
    assert len(_ids(client.http.get("/v1/maps?q=%27%3B%20drop%20table"))) == 0
    assert len(_ids(client.http.get("/v1/maps?status=ready"))) == 12
    assert _ids(client.http.get("/v1/maps?status=processing")) == []


def test_bbox_intersects(client, catalogue):
    # lon 12..33 touches the boxes of maps 1, 2 and 3 (10-15, 20-25, 30-35).
    found = _ids(client.http.get("/v1/maps?bbox=12,1,33,2"))
    assert found == [catalogue[-4], catalogue[-3], catalogue[-2]]
    assert _ids(client.http.get("/v1/maps?bbox=-50,-50,-40,-40")) == []
    assert _ids(client.http.get("/v1/maps?bbox=0,10,180,20")) == []


def test_combined_filters_and_pagination(client, catalogue):
    page = body(client.http.get("/v1/maps?owner=alice&format=geojson&limit=2"))
    rest = body(
        client.http.get(f"/v1/maps?owner=alice&format=geojson&limit=2&cursor={page['next_cursor']}")
    )
    got = [m["id"] for m in page["items"] + rest["items"]]
    assert len(got) == 4
    assert len(set(got)) == 4
    assert rest["next_cursor"] is None
    # alice owns the even maps; geojson are those not divisible by 3: 2, 4, 8, 10.
    titles = [m["title"] for m in page["items"] + rest["items"]]
    assert titles == ["Map 10", "Map 8", "Map 4", "Map 2"]


def test_map_document_has_every_contract_field(client, catalogue):
    doc = body(client.http.get("/v1/maps?limit=1"))["items"][0]
    expected = {
        "id",
        "title",
        "description",
        "filename",
        "size",
        "sha256",
        "format",
        "media_type",
        "visibility",
        "status",
        "error",
        "metadata",
        "owner",
        "created_at",
        "updated_at",
        "processed_at",
        "download_count",
    }
    assert expected <= set(doc)
    assert json.dumps(doc)  # plain JSON
