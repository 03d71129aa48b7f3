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


def test_map_documents_keep_the_key_order_of_jsonb(client, users, sql):
    """app.map_doc_json builds the document as json text (cheaper than jsonb): its keys must
    come, at every level, in the order jsonb keeps them, so that every response reads exactly
    as it did when documents were jsonb."""
    owner = users.create("alice")
    digest = "ab" * 32
    ids = {
        "full": "11111111-1111-4111-8111-111111111111",
        "failed": "22222222-2222-4222-8222-222222222222",
    }
    sql.run(
        "INSERT INTO app.maps (id, owner_id, title, description, filename, visibility, status, "
        "declared_size, size, sha256, format, media_type, metadata, object_key, uploaded_at, "
        "processed_at, progress, stage, variant_key, variant_kind, variant_size, variant_sha256, "
        "variant_media_type, variant_encoding, preview_key, preview_width, preview_height, "
        "preview_media_type, preview_size) VALUES (:id, :owner, 'Full \"map\"', 'all parts', "
        "'full.tif', 'public', 'ready', 10, 10, :sha, 'geotiff', 'image/tiff', "
        '\'{"zeta": {"b": 1, "a": [2, {"yy": 3, "x": 4}]}, "crs": "EPSG:4326"}\', '
        "'maps/full/original', now(), now(), 100, 'done', 'maps/full/optimized', 'cog', 9, :sha, "
        "'image/tiff', NULL, 'maps/full/preview', 256, 128, 'image/png', 5)",
        id=ids["full"],
        owner=owner["id"],
        sha=digest,
    )
    sql.run(
        "INSERT INTO app.maps (id, owner_id, title, filename, visibility, status, declared_size, "
        "declared_sha256, object_key, error_code, error_message) VALUES (:id, :owner, 'Failed', "
        "'f.pdf', 'private', 'failed', 3, :sha, 'maps/failed/original', 'corrupt', 'Bad file.')",
        id=ids["failed"],
        owner=owner["id"],
        sha=digest,
    )
    rows = sql.run(
        "SELECT m.id::text, app.map_doc_json(m, 'alice')::text, "
        "app.map_doc_json(m, 'alice')::jsonb::text FROM app.maps m"
    )
    assert len(rows) == 2
    for _, as_json, as_jsonb in rows:
        # json.loads keeps the order of the text: dumping both compares the order too.
        assert json.dumps(json.loads(as_json)) == json.dumps(json.loads(as_jsonb))
    as_jsonb = {row[0]: json.loads(row[2]) for row in rows}
    full = as_jsonb[ids["full"]]
    assert full["variants"]["optimized"]["kind"] == "cog"
    assert full["preview"] == {"height": 128, "media_type": "image/png", "width": 256}
    assert as_jsonb[ids["failed"]]["error"] == {"code": "corrupt", "message": "Bad file."}
    # And the API's responses list the keys in that order.
    response = client.http.get(f"/v1/maps/{ids['full']}")
    assert response.status_code == 200
    assert json.dumps(json.loads(response.body)) == json.dumps(full)
    page = client.http.get("/v1/maps?owner=alice", headers=users.headers("alice"))
    items = json.loads(page.body)["items"]
    assert len(items) == 2
    assert [json.dumps(item) for item in items] == [
        json.dumps(as_jsonb[item["id"]]) for item in items
    ]
