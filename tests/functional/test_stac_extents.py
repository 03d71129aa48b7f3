"""STAC collection extents: each collection's union bbox and time interval over the items the
caller may see (the whole world and an open interval only for a collection without any), valid
against the STAC collection schema; across the antimeridian west > east."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import body
from tests.functional import test_stac
from tests.functional.test_stac import get
from tests.stac_offline import stac_validate

T = dt.datetime(2023, 5, 1, 12, 0, tzinfo=dt.UTC)
WORLD = [[-180.0, -90.0, 180.0, 90.0]]


def add_map(sql, owner, visibility, *, bbox, **kwargs):
    """test_stac.add_map, its bbox stored as processing stores it (app.bbox_of: across the
    antimeridian unwrapped, east past 180)."""
    map_id = test_stac.add_map(sql, owner, visibility, bbox=bbox, **kwargs)
    if bbox is not None:
        sql.run(
            "UPDATE app.maps SET bbox = app.bbox_of(:b::float8[]) WHERE id = :id::uuid",
            b="{" + ",".join(str(v) for v in bbox) + "}",
            id=map_id,
        )
    return map_id


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _collections(client, headers=None):
    response = get(client, "/stac/collections", headers)
    assert response.status_code == 200, response.body
    doc = body(response)
    checker = stac_validate()
    for collection in doc["collections"]:
        assert checker.validate_dict(collection), checker.message
    return {c["id"]: c["extent"] for c in doc["collections"]}


def _one(client, cid, headers=None):
    response = get(client, f"/stac/collections/{cid}", headers)
    assert response.status_code == 200, response.body
    doc = body(response)
    checker = stac_validate()
    assert checker.validate_dict(doc), checker.message
    return doc["extent"]


@pytest.fixture
def seeded(sql, users):
    users.create("owner")
    users.create("member")
    users.create("lapsed", days=-1)
    owner = users.get("owner")["id"]
    day = dt.timedelta(days=1)
    add_map(sql, owner, "public", bbox=(6.0, 45.0, 8.0, 47.0), created_at=T)
    add_map(sql, owner, "public", bbox=(10.0, 44.0, 12.0, 46.0), created_at=T + day)
    add_map(sql, owner, "members", bbox=(-5.0, 40.0, 1.0, 44.0), created_at=T + 2 * day)
    add_map(sql, owner, "private", bbox=(20.0, 50.0, 21.0, 60.0), created_at=T + 3 * day)
    # Not items: no bbox, or not ready.
    add_map(sql, owner, "public", bbox=None, created_at=T - 10 * day)
    add_map(sql, owner, "public", status="processing", bbox=(-90.0, -80.0, -80.0, -70.0))
    # Another collection, across the antimeridian (Fiji to Samoa): west > east.
    add_map(sql, owner, "public", fmt="gpx", bbox=(177.0, -20.0, -171.0, -13.0), created_at=T)
    add_map(sql, owner, "public", fmt="gpx", bbox=(-178.0, -18.0, -175.0, -15.0), created_at=T)
    return {"owner": owner, "day": day}


def test_guest_member_owner_and_admin_see_the_extent_of_their_items(client, users, seeded):
    day = seeded["day"]
    guest = _collections(client)
    assert guest["geojson"]["spatial"]["bbox"] == [[6.0, 44.0, 12.0, 47.0]]
    assert guest["geojson"]["temporal"]["interval"] == [[_iso(T), _iso(T + day)]]
    member = _collections(client, users.headers("member"))
    assert member["geojson"]["spatial"]["bbox"] == [[-5.0, 40.0, 12.0, 47.0]]
    assert member["geojson"]["temporal"]["interval"] == [[_iso(T), _iso(T + 2 * day)]]
    # A lapsed member sees public maps only, like a guest.
    assert _collections(client, users.headers("lapsed"))["geojson"] == guest["geojson"]
    owner = _collections(client, users.headers("owner"))
    assert owner["geojson"]["spatial"]["bbox"] == [[-5.0, 40.0, 21.0, 60.0]]
    assert owner["geojson"]["temporal"]["interval"] == [[_iso(T), _iso(T + 3 * day)]]
    users.create("root", role="admin")
    assert _collections(client, users.headers("root"))["geojson"] == owner["geojson"]
    # One collection's document says the same as the list.
    assert _one(client, "geojson", users.headers("member")) == member["geojson"]


def test_a_collection_without_items_keeps_the_whole_world_and_an_open_interval(client, seeded):
    extents = _collections(client)
    assert extents["kml"]["spatial"]["bbox"] == WORLD
    assert extents["kml"]["temporal"]["interval"] == [[None, None]]
    assert _one(client, "pdf")["spatial"]["bbox"] == WORLD


def test_items_across_the_antimeridian_give_a_narrow_extent_west_of_east(client, seeded):
    assert _one(client, "gpx")["spatial"]["bbox"] == [[177.0, -20.0, -171.0, -13.0]]


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        # Either side of the antimeridian, none across it: the gap is the narrower side.
        ([(170.0, 0.0, 175.0, 1.0), (-175.0, 0.0, -170.0, 1.0)], [170.0, 0.0, -170.0, 1.0]),
        # Either side of Greenwich: the plain union.
        ([(-10.0, 0.0, -5.0, 1.0), (5.0, 0.0, 10.0, 1.0)], [-10.0, 0.0, 10.0, 1.0]),
        # One across each: no narrower frame, the whole longitude range.
        ([(-10.0, 0.0, 10.0, 1.0), (170.0, 0.0, -170.0, 1.0)], [-180.0, 0.0, 180.0, 1.0]),
        # A single box across the antimeridian is its own extent.
        ([(179.0, -1.0, -179.0, 1.0)], [179.0, -1.0, -179.0, 1.0]),
    ],
)
def test_union_across_frames(client, sql, users, boxes, expected):
    users.create("owner")
    for box in boxes:
        add_map(sql, users.get("owner")["id"], "public", fmt="kml", bbox=box, created_at=T)
    assert _one(client, "kml")["spatial"]["bbox"] == [expected]
