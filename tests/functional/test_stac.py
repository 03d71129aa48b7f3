"""The STAC API at /stac: documents, links, search parameters, paging, errors and visibility."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.conftest import body, log_lines
from tests.stac_seed import seed_items

HOST = "stac.test:8080"
ROOT = f"http://{HOST}"
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
T0 = dt.datetime(2023, 5, 1, 12, 0, tzinfo=dt.UTC)


def get(client: Any, path: str, headers: dict[str, str] | None = None) -> Any:
    return client.http.get(path, headers={"Host": HOST, **(headers or {})})


def post(client: Any, path: str, doc: Any, headers: dict[str, str] | None = None) -> Any:
    return client.http.post(
        path,
        headers={"Host": HOST, "Content-Type": "application/json", **(headers or {})},
        body=json.dumps(doc),
    )


def add_map(
    sql: Any,
    owner: str,
    visibility: str = "public",
    *,
    status: str = "ready",
    bbox: tuple[float, float, float, float] | None = (6.0, 45.0, 8.0, 47.0),
    fmt: str = "geojson",
    created_at: dt.datetime | None = None,
    metadata: dict[str, Any] | None = None,
) -> str:
    """One map as processing would leave it; its id."""
    map_id = str(uuid.uuid4())
    meta = {"bbox": list(bbox) if bbox else None, "crs": "EPSG:4326", **(metadata or {})}
    sql.run(
        "INSERT INTO app.maps (id, owner_id, title, filename, visibility, status, declared_size,"
        " size, sha256, format, media_type, metadata, bbox, object_key, created_at, updated_at)"
        " VALUES (:id::uuid, :owner::uuid, 'Map ' || :id, 'map.bin', :vis, :status, 10, 10,"
        " repeat('ab', 32), :fmt, 'application/geo+json', :meta::jsonb,"
        " CASE WHEN :has_box THEN box(point(:w, :s), point(:e, :n)) END, 'maps/' || :id,"
        " coalesce(:created::timestamptz, clock_timestamp()),"
        " coalesce(:created::timestamptz, clock_timestamp()))",
        id=map_id,
        owner=owner,
        vis=visibility,
        status=status,
        fmt=fmt,
        meta=json.dumps(meta),
        has_box=bbox is not None,
        w=bbox[0] if bbox else 0.0,
        s=bbox[1] if bbox else 0.0,
        e=bbox[2] if bbox else 0.0,
        n=bbox[3] if bbox else 0.0,
        created=created_at,
    )
    return map_id


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.body
    return [f["id"] for f in body(response)["features"]]


def link(doc: dict[str, Any], rel: str) -> dict[str, Any]:
    return next(x for x in doc["links"] if x["rel"] == rel)


# --- documents and links -------------------------------------------------------------------


def test_landing_page_links_and_conformance(client):
    response = get(client, "/stac")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    doc = body(response)
    assert doc["type"] == "Catalog"
    assert {
        "https://api.stacspec.org/v1.0.0/core",
        "https://api.stacspec.org/v1.0.0/collections",
        "https://api.stacspec.org/v1.0.0/ogcapi-features",
        "https://api.stacspec.org/v1.0.0/item-search",
    } <= set(doc["conformsTo"])
    assert not any("intersects" in c or "filter" in c for c in doc["conformsTo"])
    assert link(doc, "self")["href"] == f"{ROOT}/stac"
    assert link(doc, "root")["href"] == f"{ROOT}/stac"
    assert link(doc, "conformance")["href"] == f"{ROOT}/stac/conformance"
    assert link(doc, "data")["href"] == f"{ROOT}/stac/collections"
    assert link(doc, "search")["href"] == f"{ROOT}/stac/search"
    assert {x["method"] for x in doc["links"] if x["rel"] == "search"} == {"GET", "POST"}
    desc, page = link(doc, "service-desc"), link(doc, "service-doc")
    assert desc["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert page["type"] == "text/html"
    assert desc["href"] == f"{ROOT}/stac/api"
    html = get(client, "/stac/api.html")
    assert html.status_code == 200
    assert html.headers["Content-Type"].startswith("text/html")
    assert b"/stac/search" in html.body
    assert body(get(client, "/stac/conformance"))["conformsTo"] == doc["conformsTo"]


def test_collections_are_the_formats_with_footprints(client):
    doc = body(get(client, "/stac/collections"))
    names = [c["id"] for c in doc["collections"]]
    assert "geotiff" in names and "geojson" in names
    assert not {"png", "jpeg", "webp", "tiff"} & set(names)  # scans never have a bbox
    assert link(doc, "self")["href"] == f"{ROOT}/stac/collections"
    one = body(get(client, "/stac/collections/gpx"))
    assert one["type"] == "Collection" and one["id"] == "gpx"
    assert link(one, "items")["href"] == f"{ROOT}/stac/collections/gpx/items"
    for path in (
        "/stac/collections/png",
        "/stac/collections/nope/items",
        "/stac/collections/x/items/y",
    ):
        response = get(client, path)
        assert response.status_code == 404
        assert body(response)["code"] == "not_found"


def test_links_follow_the_host_and_forwarded_scheme_and_refuse_a_hostile_host(client):
    doc = body(get(client, "/stac", {"Host": "[::1]:9000", "X-Forwarded-Proto": "https"}))
    assert link(doc, "self")["href"] == "https://[::1]:9000/stac"
    for hostile in ("evil.example/<x>", "a b", "host:port", "x" * 300):
        response = get(client, "/stac", {"Host": hostile})
        assert response.status_code == 400
        assert "Host" in body(response)["message"]


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            {
                "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
                "stage": "dev",
                "path": "/dev/stac/collections/geotiff",
            },
            "https://abc.execute-api.eu-west-1.amazonaws.com/dev",
        ),
        (
            {
                "domainName": "maps.example.com",
                "stage": "prod",
                "path": "/v2/stac/collections/geotiff",
            },
            "https://maps.example.com/v2",
        ),
        (
            {
                "domainName": "maps.example.com",
                "stage": "prod",
                "path": "/stac/collections/geotiff",
            },
            "https://maps.example.com",
        ),
        ({"path": "/stac/collections/geotiff"}, "http://localhost:8000"),
    ],
)
def test_api_root_keeps_the_stage_or_base_path(context, expected):
    from chalice.app import Request

    from chalicelib.web.stac.urls import api_root

    event = {
        "requestContext": {
            "httpMethod": "GET",
            "resourcePath": "/stac/collections/{collection_id}",
            **context,
        },
        "headers": {"host": "localhost:8000"},
        "pathParameters": {"collection_id": "geotiff"},
        "multiValueQueryStringParameters": None,
        "body": None,
        "stageVariables": None,
        "isBase64Encoded": False,
    }
    assert api_root(Request(event)) == expected


def test_item_document_maps_metadata_assets_and_links(client, sql, users):
    users.create("alice")
    owner = users.get("alice")["id"]
    map_id = add_map(
        sql,
        owner,
        "members",
        fmt="geotiff",
        bbox=(6.5, 45.5, 7.5, 46.25),
        metadata={
            "width": 4000,
            "height": 3000,
            "dtype": "uint16",
            "nodata": 0,
            "crs": "EPSG:2056",
            "native_bbox": [2600000.0, 1200000.0, 2680000.0, 1260000.0],
        },
    )
    sql.run(
        "UPDATE app.maps SET variant_key = 'maps/' || id || '/cog', variant_kind = 'cog',"
        " variant_size = 7, variant_sha256 = repeat('cd', 32), variant_media_type = :cog,"
        " media_type = 'image/tiff' WHERE id = :id::uuid",
        cog=COG,
        id=map_id,
    )
    alice = users.headers("alice")
    response = get(client, f"/stac/collections/geotiff/items/{map_id}", alice)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/geo+json"
    item = body(response)
    doc = body(client.http.get(f"/v1/maps/{map_id}", headers=alice))
    assert item["id"] == map_id and item["collection"] == "geotiff"
    assert item["bbox"] == [6.5, 45.5, 7.5, 46.25]
    assert item["geometry"] == {
        "type": "Polygon",
        "coordinates": [[[6.5, 45.5], [7.5, 45.5], [7.5, 46.25], [6.5, 46.25], [6.5, 45.5]]],
    }
    props = item["properties"]
    assert props["datetime"] == props["created"] == doc["created_at"]
    assert props["updated"] == doc["updated_at"]
    assert props["proj:code"] == "EPSG:2056"
    assert props["proj:shape"] == [3000, 4000]
    assert props["proj:bbox"] == [2600000.0, 1200000.0, 2680000.0, 1260000.0]
    assert (
        "https://stac-extensions.github.io/projection/v2.0.0/schema.json" in item["stac_extensions"]
    )
    data, original = item["assets"]["data"], item["assets"]["original"]
    assert data["href"] == f"{ROOT}/v1/maps/{map_id}/download"
    assert data["type"] == COG
    assert data["file:size"] == 7 and data["file:checksum"] == "1220" + "cd" * 32
    assert data["data_type"] == "uint16" and data["nodata"] == 0
    assert original["href"] == f"{ROOT}/v1/maps/{map_id}/download?variant=original"
    assert original["type"] == "image/tiff; application=geotiff"
    assert original["file:checksum"] == "1220" + "ab" * 32
    assert "thumbnail" not in item["assets"]  # no preview was drawn
    assert link(item, "self")["href"] == f"{ROOT}/stac/collections/geotiff/items/{map_id}"
    assert link(item, "collection")["href"] == f"{ROOT}/stac/collections/geotiff"
    assert link(item, "root")["href"] == f"{ROOT}/stac"
    # The asset hrefs are the real routes: the download answers this member.
    path = urlsplit(original["href"])
    download = client.http.get(f"{path.path}?{path.query}", headers=alice)
    assert download.status_code == 302


def test_an_item_across_the_antimeridian_is_found_from_either_side(client, sql, users):
    users.create("alice")
    owner = users.get("alice")["id"]
    east = add_map(sql, owner, bbox=(175.0, 0.0, 179.5, 5.0))
    west = add_map(sql, owner, bbox=(-179.5, 0.0, -175.0, 5.0))
    add_map(sql, owner, bbox=(0.0, 0.0, 5.0, 5.0))
    assert set(ids(get(client, "/stac/search?bbox=170,-10,-170,10"))) == {east, west}
    assert set(ids(post(client, "/stac/search", {"bbox": [170, -10, -170, 10]}))) == {east, west}
    assert ids(get(client, "/stac/search?bbox=176,1,0,177,2,3")) == [east]  # 3D: heights ignored


# --- search parameters -----------------------------------------------------------------------

VALID_DATETIMES = [
    "1985-04-12T23:20:50.52Z",
    "1996-12-19T16:39:57-08:00",
    "../1985-04-12T23:20:50.52Z",
    "1985-04-12T23:20:50.52Z/..",
    "/1985-04-12T23:20:50.52Z",
    "1985-04-12T23:20:50.52Z/",
    "1985-04-12T23:20:50.52+01:00/1986-04-12T23:20:50.52+01:00",
    "1985-04-12t23:20:50.000z",
    "2020-07-23T00:00:00.012345678Z",
    "1990-12-31T23:59:60Z",
]
INVALID_DATETIMES = [
    "/",
    "../..",
    "/..",
    "../",
    "/1984-04-12T23:20:50.52Z/1985-04-12T23:20:50.52Z",
    "1984-04-12T23:20:50.52Z/1985-04-12T23:20:50.52Z/",
    "1985-04-12",
    "1937-01-01T12:00:27.87+0100",
    "37-01-01T12:00:27.87Z",
    "1985-12-12T23:20:50.52",
    "21985-12-12T23:20:50.52Z",
    "1985-13-12T23:20:50.52Z",
    "1985-12-32T23:20:50.52Z",
    "1985-12-01T25:20:50.52Z",
    "1985-12-01T00:60:50.52Z",
    "1985-12-01T00:06:61.52Z",
    "1985-04-12T23:20:50.Z",
    "1985-04-12T23:20:50,52Z",
    "1986-04-12T23:20:50.52Z/1985-04-12T23:20:50.52Z",
    "0000-01-01T00:00:00Z",
    "2020-02-30T00:00:00Z",
    "2020-01-01T00:00:00+24:00",
    "\uff12\uff10\uff12\uff10-01-01T00:00:00Z",  # fullwidth digits
]


@pytest.mark.parametrize("value", VALID_DATETIMES)
def test_rfc3339_datetimes_and_intervals_are_accepted(client, value):
    assert get(client, "/stac/search?" + urlencode({"datetime": value})).status_code == 200
    assert post(client, "/stac/search", {"datetime": value}).status_code == 200


@pytest.mark.parametrize("value", INVALID_DATETIMES)
def test_anything_else_is_a_400_naming_datetime(client, value):
    for response in (
        get(client, "/stac/search?" + urlencode({"datetime": value})),
        post(client, "/stac/search", {"datetime": value}),
    ):
        assert response.status_code == 400, value
        doc = body(response)
        assert doc["code"] == "invalid_request" and doc["message"].startswith("datetime")


def test_datetime_is_when_the_map_was_added_with_closed_and_open_ends(client, sql, users):
    users.create("alice")
    owner = users.get("alice")["id"]
    made = [add_map(sql, owner, created_at=T0 + dt.timedelta(days=i)) for i in range(5)]
    day = lambda i: (T0 + dt.timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    assert ids(get(client, f"/stac/search?datetime={day(2)}")) == [made[2]]
    assert ids(get(client, f"/stac/search?datetime={day(1)}/{day(3)}")) == made[3:0:-1]
    assert ids(get(client, f"/stac/search?datetime=../{day(1)}")) == made[1::-1]
    assert ids(get(client, f"/stac/search?datetime={day(3)}/")) == made[:2:-1]
    offset = (T0 + dt.timedelta(days=2)).astimezone(dt.timezone(dt.timedelta(hours=-8)))
    instant = offset.isoformat()
    assert ids(post(client, "/stac/search", {"datetime": instant})) == [made[2]]


def test_ids_and_collections_filter(client, sql, users):
    users.create("alice")
    owner = users.get("alice")["id"]
    tif = add_map(sql, owner, fmt="geotiff")
    gpx = add_map(sql, owner, fmt="gpx")
    gj = add_map(sql, owner, fmt="geojson")
    assert ids(get(client, f"/stac/search?ids={tif},{gpx},not-a-uuid")) == [gpx, tif]
    assert ids(get(client, "/stac/search?ids=not-a-uuid")) == []
    assert ids(get(client, "/stac/search?collections=gpx,geojson")) == [gj, gpx]
    assert ids(post(client, "/stac/search", {"collections": ["geotiff"], "ids": [tif, gj]})) == [
        tif
    ]
    assert ids(get(client, "/stac/search?collections=nope")) == []
    assert ids(get(client, "/stac/collections/gpx/items")) == [gpx]


def test_collection_items_take_the_search_filters_clients_send(client, sql, users):
    """pystac-client's get_items asks .../items?collections=<that collection>: `collections`
    narrows the path's collection (a list without it matches nothing), `ids` as in search."""
    users.create("alice")
    owner = users.get("alice")["id"]
    tifs = [add_map(sql, owner, fmt="geotiff") for _ in range(3)][::-1]  # newest first
    add_map(sql, owner, fmt="gpx")
    items = "/stac/collections/geotiff/items"
    assert ids(get(client, items)) == tifs
    assert ids(get(client, f"{items}?collections=geotiff")) == tifs
    assert ids(get(client, f"{items}?collections=gpx,geotiff")) == tifs
    assert ids(get(client, f"{items}?collections=gpx")) == []
    assert ids(get(client, f"{items}?collections=nope")) == []
    assert ids(get(client, f"{items}?ids={tifs[1]},{tifs[2]}")) == tifs[1:]
    # The next link keeps the filter, so every page is of the same question.
    first = body(get(client, f"{items}?collections=geotiff&limit=2"))
    query = parse_qs(urlsplit(link(first, "next")["href"]).query)
    assert query["collections"] == ["geotiff"]
    second = get(client, f"{items}?{urlencode({k: v[0] for k, v in query.items()})}")
    assert [f["id"] for f in first["features"]] + ids(second) == tifs
    for bad in ("sortby=id", "collections=a&collections=b", "q=map"):
        response = get(client, f"{items}?{bad}")
        assert response.status_code == 400, bad
        assert body(response)["code"] == "invalid_request"
        assert set(body(response)) == {"code", "message", "request_id"}


@pytest.mark.parametrize(
    ("query", "doc", "field"),
    [
        ("intersects=x", {"intersects": {"type": "Point", "coordinates": [0, 0]}}, "intersects"),
        (
            "bbox=0,0,1,1&intersects=x",
            {"bbox": [0, 0, 1, 1], "intersects": {"type": "Point", "coordinates": [0, 0]}},
            "intersects",
        ),
        ("bbox=0,0,1", {"bbox": [0, 0, 1]}, "bbox"),
        ("bbox=0,0,1,x", {"bbox": [0, 0, 1, "x"]}, "bbox"),
        ("bbox=0,10,1,5", {"bbox": [0, 10, 1, 5]}, "bbox"),
        ("bbox=0,-91,1,5", {"bbox": [0, -91, 1, 5]}, "bbox"),
        ("bbox=0,0,1,nan", {"bbox": [0, 0, 1, 1, 1, 1, 1]}, "bbox"),
        ("limit=0", {"limit": 0}, "limit"),
        ("limit=ten", {"limit": "ten"}, "limit"),
        ("limit=%D9%A3", {"limit": True}, "limit"),
        ("cursor=garbage", {"cursor": "garbage"}, "cursor"),
        ("sortby=id", {"sortby": [{"field": "id"}]}, "sortby"),
        ("ids=" + ",".join(str(uuid.uuid4()) for _ in range(101)), {"ids": ["a"] * 101}, "ids"),
        ("collections=a&collections=b", {"collections": "geotiff"}, "collections"),
    ],
)
def test_bad_search_input_is_a_400_naming_the_field(client, query, doc, field):
    for response in (get(client, f"/stac/search?{query}"), post(client, "/stac/search", doc)):
        assert response.status_code == 400, (query, response.body)
        error = body(response)
        assert error["code"] == "invalid_request"
        assert error["message"].startswith(field), error


def test_post_search_wants_a_json_object(client):
    response = client.http.post(
        "/stac/search", headers={"Host": HOST, "Content-Type": "text/plain"}, body="{}"
    )
    assert response.status_code == 415
    assert body(post(client, "/stac/search", [1, 2]))["code"] == "invalid_request"


# --- paging ----------------------------------------------------------------------------------


def test_pages_follow_next_links_and_limit_is_clamped(client, sql, users):
    users.create("boss", role="admin")
    admin = users.headers("boss")
    owner = users.get("boss")["id"]
    made = seed_items(sql, [owner], 130, T0, "1 minute")
    newest_first = [r["id"] for r in sorted(made, key=lambda r: r["created_at"], reverse=True)]

    first = get(
        client, "/stac/search?limit=1000&collections=geotiff,geojson,gpx,kml,gpkg,pdf", admin
    )
    page = body(first)
    assert page["numberReturned"] == 100 and len(page["features"]) == 100
    nxt = link(page, "next")
    assert parse_qs(urlsplit(nxt["href"]).query)["collections"] == [
        "geotiff,geojson,gpx,kml,gpkg,pdf"
    ]
    target = urlsplit(nxt["href"])
    second = body(client.http.get(f"{target.path}?{target.query}", headers={"Host": HOST, **admin}))
    assert "next" not in {x["rel"] for x in second["links"]}
    assert [f["id"] for f in page["features"] + second["features"]] == newest_first

    seen, doc = [], {"limit": 40}
    while True:
        response = post(client, "/stac/search", doc, admin)
        page = body(response)
        seen += [f["id"] for f in page["features"]]
        nxt = next((x for x in page["links"] if x["rel"] == "next"), None)
        if nxt is None:
            break
        assert nxt["method"] == "POST" and nxt["href"] == f"{ROOT}/stac/search"
        doc = nxt["body"]
        assert doc["limit"] == 40
    assert seen == newest_first

    items, path = [], "/stac/collections/geotiff/items?limit=9"
    while path:
        page = body(get(client, path, admin))
        items += [f["id"] for f in page["features"]]
        nxt = next((x for x in page["links"] if x["rel"] == "next"), None)
        path = None if nxt is None else nxt["href"].removeprefix(ROOT)
    assert items == [
        i for i in newest_first if i in {r["id"] for r in made if r["format"] == "geotiff"}
    ]


# --- visibility ------------------------------------------------------------------------------


@pytest.fixture
def shared(sql, users):
    for name in ("alice", "bob"):
        users.create(name)
    users.create("carol", days=-1)  # lapsed
    users.create("root", role="admin")
    alice, carol = users.get("alice")["id"], users.get("carol")["id"]
    maps = {
        "public": add_map(sql, alice, "public"),
        "members": add_map(sql, alice, "members"),
        "private": add_map(sql, alice, "private"),
        "carol_private": add_map(sql, carol, "private"),
        "processing": add_map(sql, alice, "public", status="processing"),
        "no_bbox": add_map(sql, alice, "public", bbox=None),
    }
    return maps


VISIBLE = {
    None: {"public"},
    "alice": {"public", "members", "private"},
    "bob": {"public", "members"},
    "carol": {"public", "carol_private"},
    "root": {"public", "members", "private", "carol_private"},
}


@pytest.mark.parametrize("who", list(VISIBLE))
def test_visibility_matrix_on_search_items_and_item(client, users, shared, who):
    headers = users.headers(who)
    expected = {shared[name] for name in VISIBLE[who]}
    assert set(ids(get(client, "/stac/search", headers))) == expected
    assert set(ids(post(client, "/stac/search", {"ids": list(shared.values())}, headers))) == (
        expected
    )
    assert set(ids(get(client, "/stac/collections/geojson/items", headers))) == expected
    missing = get(client, f"/stac/collections/geojson/items/{uuid.uuid4()}", headers)
    assert missing.status_code == 404
    for name, map_id in shared.items():
        response = get(client, f"/stac/collections/geojson/items/{map_id}", headers)
        if name in VISIBLE[who]:
            assert response.status_code == 200 and body(response)["id"] == map_id
        else:
            assert response.status_code == 404
            assert {k: v for k, v in body(response).items() if k != "request_id"} == {
                k: v for k, v in body(missing).items() if k != "request_id"
            }
        # The right item in another collection is not there either.
        assert get(client, f"/stac/collections/gpx/items/{map_id}", headers).status_code == 404


def test_search_equals_browse_for_each_caller(client, users, shared):
    for who in VISIBLE:
        headers = users.headers(who)
        browse = body(client.http.get("/v1/maps?bbox=0,40,10,50", headers=headers))["items"]
        expected = [m["id"] for m in browse if m["status"] == "ready"]
        assert ids(get(client, "/stac/search?bbox=0,40,10,50", headers)) == expected


def test_bad_and_revoked_tokens_are_401_never_a_guest(client, sql, users, shared):
    forged = {"Authorization": "Bearer not.a.token"}
    for path in ("/stac", "/stac/collections", "/stac/search", "/stac/search?limit=0"):
        assert get(client, path, forged).status_code == 401
    assert post(client, "/stac/search", {"limit": 0}, forged).status_code == 401
    headers = users.headers("bob")
    sql.run("UPDATE app.users SET token_version = token_version + 1 WHERE username = 'bob'")
    for path in ("/stac/search", f"/stac/collections/geojson/items/{shared['public']}"):
        response = get(client, path, headers)
        assert response.status_code == 401
        assert body(response)["code"] == "unauthorized"


def test_one_round_trip_per_data_request_and_none_for_static_documents(client, capsys, shared):
    capsys.readouterr()
    for path in (
        "/stac",
        "/stac/conformance",
        "/stac/collections",
        "/stac/collections/geojson",
        "/stac/search?bbox=0,40,10,50",
        "/stac/collections/geojson/items",
        f"/stac/collections/geojson/items/{shared['public']}",
    ):
        assert get(client, path).status_code == 200
    post(client, "/stac/search", {"limit": 5})
    trips = [line["db_round_trips"] for line in log_lines(capsys, "http_request")]
    # Collections carry their extents over the caller's items: one round trip too.
    assert trips == [0, 0, 1, 1, 1, 1, 1, 1]


def test_stac_search_function_checks_its_limit(stack, sql):
    from chalicelib import db, errors

    with pytest.raises(errors.ApiError) as caught:
        db.call(
            "api.stac_search",
            p_caller=None,
            p_token_version=None,
            p_limit=101,
            p_after_created=None,
            p_after_id=None,
            p_bbox=None,
            p_from=None,
            p_to=None,
            p_ids=None,
            p_collections=None,
        )
    assert caught.value.status == 400
    page = db.call(
        "api.stac_search",
        p_caller=None,
        p_token_version=None,
        p_limit=5,
        p_after_created=None,
        p_after_id=None,
        p_bbox=[0.0, 0.0, 1.0, 1.0],
        p_from=None,
        p_to=None,
        p_ids=None,
        p_collections=["geotiff"],
    )
    assert page == {"items": [], "next": None}


def _browse(client: Any, headers: dict[str, str], bbox: str, keep: Any, count: int) -> list[str]:
    """The first `count` maps of GET /v1/maps?bbox= (newest first) that `keep` accepts."""
    found: list[str] = []
    cursor = ""
    while len(found) < count:
        page = body(client.http.get(f"/v1/maps?bbox={bbox}&limit=100{cursor}", headers=headers))
        found += [m["id"] for m in page["items"] if m["status"] == "ready" and keep(m)]
        cursor = f"&cursor={page['next_cursor']}"
    return found[:count]


def _stac(client: Any, headers: dict[str, str], bbox: str, pages: int) -> list[str]:
    """The items of the first `pages` pages of /stac/search?bbox= (25 a page, next links)."""
    seen: list[str] = []
    path = f"/stac/search?bbox={bbox}&limit=25"
    for _ in range(pages):
        page = body(get(client, path, headers))
        seen += [f["id"] for f in page["features"]]
        path = link(page, "next")["href"].removeprefix(ROOT)
    return seen


def test_search_over_thousands_of_overlapping_maps_equals_browse(client, sql, users):
    """Past api.stac_search's probe cap (5,000 overlapping maps) a bbox search walks the
    newest-first indexes instead of collecting candidates: the same answers, page after page."""
    users.create("alice")
    users.create("bob")
    users.create("root", role="admin")
    owners = [users.get("alice")["id"], users.get("bob")["id"]]
    seed_items(sql, owners, 18_000, T0, "1 minute")
    sql.run("ANALYZE app.maps")
    world = "-180,-90,180,90"
    # Each visibility's probe reaches the cap for the world and across the antimeridian (a
    # walk, that still skips some maps there), not for the band (candidates collected).
    counts = sql.run(
        "SELECT count(*) FILTER (WHERE bbox && box(point(-100, -90), point(180, 90))"
        "                           OR bbox && box(point(-180, -90), point(-120, 90))),"
        " count(*) FILTER (WHERE bbox && box(point(-100, -50), point(100, 50))), count(*)"
        " FROM app.maps GROUP BY visibility"
    )
    for crossing, band, total in counts:
        assert total > crossing >= 5000 > band

    def crosses(m: dict[str, Any]) -> bool:  # overlaps -100..180 or -180..-120
        west, _, east, _ = m["metadata"]["bbox"]
        return east >= -100 or west <= -120

    for who in (None, "alice", "root"):
        headers = users.headers(who)
        for bbox in (world, "-100,-50,100,50"):
            assert _stac(client, headers, bbox, 3) == _browse(
                client, headers, bbox, lambda m: True, 75
            ), (who, bbox)
        assert _stac(client, headers, "-100,-90,-120,90", 3) == _browse(
            client, headers, world, crosses, 75
        ), who
