"""The STAC API on the real local stack, checked by the STAC ecosystem's own tools, offline:
stac-api-validator (core, collections, features, item-search), pystac-client searches compared
with GET /v1/maps, and every item against the STAC item schema (pystac and stac-validator)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.stack import LocalStack
from tests.e2e.test_local_stack import session
from tests.stac_offline import FILES, SCHEMAS, offline, stac_validate
from tests.stac_seed import seed_items

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
START = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
SEEDED = 140
BBOX = [-120.0, -60.0, 60.0, 70.0]
DATETIME = "2024-03-02T00:00:00Z/2024-03-06T12:00:00Z"


@pytest.fixture(scope="module")
def catalog(local_stack: LocalStack) -> Iterator[dict[str, Any]]:
    """Two members and an admin, SEEDED ready maps with objects in S3, plus maps that are not
    items (not ready, no bbox)."""
    from chalicelib.auth import hash_password
    from chalicelib.db import connect

    env = json.loads((local_stack.state / "run" / "env.json").read_text())
    conn = connect(env["DATABASE_URL"])
    password_hash = hash_password(PASSWORD)
    ids = {}
    for name, role in (("stacalice", "member"), ("stacbob", "member"), ("stacadmin", "admin")):
        conn.run(
            "SELECT ops.create_user(:u, :h, :r, now() + interval '30 days')",
            u=name,
            h=password_hash,
            r=role,
        )
        ids[name] = str(conn.run("SELECT id FROM app.users WHERE username = :u", u=name)[0][0])
    rows = seed_items(conn, [ids["stacalice"], ids["stacbob"]], SEEDED, START)
    # Not items: processing (with a bbox) and a ready scan without one.
    conn.run("UPDATE app.maps SET status = 'processing' WHERE id = :id::uuid", id=rows[0]["id"])
    conn.run(
        "UPDATE app.maps SET bbox = NULL, metadata = metadata - 'bbox' WHERE id = :id::uuid",
        id=rows[1]["id"],
    )
    conn.close()
    s3 = local_stack.s3()
    for row in rows:
        s3.put_object(
            Bucket=env["MAPSTOCK_BUCKET"], Key=f"maps/{row['id']}/original", Body=b"x" * 16
        )
    tokens = {}
    for name in ids:
        response = session().post(
            f"{local_stack.url}/v1/auth/token",
            json={"username": name, "password": PASSWORD},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        tokens[name] = response.json()["access_token"]
    yield {"rows": rows, "not_items": {rows[0]["id"], rows[1]["id"]}, "tokens": tokens}


def _headers(catalog: dict[str, Any], who: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {catalog['tokens'][who]}"} if who else {}


def test_stac_api_validator_passes_offline(local_stack, catalog, monkeypatch) -> None:
    from stac_api_validator.validations import QueryConfig, validate_api
    from stac_validator import utilities

    root = f"{local_stack.url}/stac"
    with offline(monkeypatch) as guard:
        for who in (None, "stacalice"):
            warnings, errors = validate_api(
                root_url=root,
                ccs_to_validate=["core", "collections", "features", "item-search"],
                collection="geotiff",
                geometry=None,
                auth_bearer_token=catalog["tokens"][who] if who else None,
                auth_query_parameter=None,
                fields_nested_property=None,
                validate_pagination=True,
                query_config=QueryConfig(*[None] * 13),
                transaction_collection=None,
                headers={},
            )
            assert list(errors) == [], (who, list(errors), list(warnings))
    assert guard.refused == []
    # Items and collections really went through stac-validator's schemas (not skipped), and
    # those were the vendored files.
    loaded = {path for path in utilities._cached_schemas if str(SCHEMAS) in path}
    for url in (
        "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json",
        "https://schemas.stacspec.org/v1.1.0/collection-spec/json-schema/collection.json",
        "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
        "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    ):
        assert str(SCHEMAS / FILES[url]) in loaded


def _v1_maps(stack: LocalStack, headers: dict[str, str], bbox: list[float]) -> list[dict]:
    """Every map GET /v1/maps answers for a bbox, page by page."""
    http, found, cursor = session(), [], None
    while True:
        query: dict[str, Any] = {"bbox": ",".join(map(str, bbox)), "limit": 100}
        if cursor:
            query["cursor"] = cursor
        page = http.get(f"{stack.url}/v1/maps", params=query, headers=headers, timeout=30).json()
        found.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return found


def _in_interval(created_at: str, interval: str) -> bool:
    start, end = (dt.datetime.fromisoformat(v.replace("Z", "+00:00")) for v in interval.split("/"))
    return start <= dt.datetime.fromisoformat(created_at.replace("Z", "+00:00")) <= end


@pytest.mark.parametrize("who", [None, "stacalice", "stacbob", "stacadmin"])
def test_pystac_client_search_equals_v1_maps(local_stack, catalog, monkeypatch, who) -> None:
    from pystac_client import Client

    headers = _headers(catalog, who)
    expected = [
        m["id"]
        for m in _v1_maps(local_stack, headers, BBOX)
        if m["status"] == "ready" and _in_interval(m["created_at"], DATETIME)
    ]
    assert len(expected) > 15  # several pages of 7
    with offline(monkeypatch) as guard:
        client = Client.open(f"{local_stack.url}/stac", headers=headers)
        for method in ("GET", "POST"):
            search = client.search(bbox=BBOX, datetime=DATETIME, limit=7, method=method)
            pages = list(search.pages())
            assert len(pages) == -(-len(expected) // 7)
            assert [i.id for page in pages for i in page.items] == expected
    assert guard.refused == []


def test_every_item_validates_against_the_item_schema(local_stack, catalog, monkeypatch) -> None:
    from pystac_client import Client

    with offline(monkeypatch) as guard:
        client = Client.open(f"{local_stack.url}/stac", headers=_headers(catalog, "stacadmin"))
        items = list(client.search(limit=50).items())
        for item in items:
            item.validate()  # pystac: item schema and each extension's schema
            checker = stac_validate()
            assert checker.validate_dict(item.to_dict(transform_hrefs=False)), checker.message
            assert checker.message[-1]["schema"], checker.message
    assert guard.refused == []
    seeded = {r["id"] for r in catalog["rows"]} - catalog["not_items"]
    assert {i.id for i in items} >= seeded
    assert len(seeded) >= 100


def test_the_validators_do_reject_a_broken_item(local_stack, catalog, monkeypatch) -> None:
    """The same checks fail an item that breaks the schema: they are not passing vacuously."""
    import pystac
    from pystac_client import Client

    with offline(monkeypatch) as guard:
        client = Client.open(f"{local_stack.url}/stac")
        good = next(client.search(limit=1).items()).to_dict(transform_hrefs=False)
        assert (
            "https://stac-extensions.github.io/file/v2.1.0/schema.json" in good["stac_extensions"]
        )
        core = {**good, "geometry": {"type": "Polygon", "coordinates": "nowhere"}}
        data = {**good["assets"]["data"], "file:size": "big"}
        extension = {**good, "assets": {**good["assets"], "data": data}}
        for broken in (core, extension):
            assert not stac_validate().validate_dict(json.loads(json.dumps(broken)))
            with pytest.raises(pystac.STACValidationError):
                pystac.Item.from_dict(broken).validate()
        # A schema that is not vendored is a failure and a refused connection, never a pass.
        eo = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
        unknown = {**good, "stac_extensions": [*good["stac_extensions"], eo]}
        assert not stac_validate().validate_dict(unknown)
        with pytest.raises(pystac.validation.GetSchemaError):
            pystac.Item.from_dict(unknown).validate()
    assert "stac-extensions.github.io" in guard.refused


@pytest.mark.parametrize("who", [None, "stacalice"])
def test_pystac_client_lists_a_collections_items(local_stack, catalog, monkeypatch, who) -> None:
    """Collection.get_items() asks /stac/collections/geotiff/items?collections=geotiff and
    follows its next links: every geotiff item the caller may see, once, newest first."""
    from pystac_client import Client

    headers = _headers(catalog, who)
    with offline(monkeypatch) as guard:
        client = Client.open(f"{local_stack.url}/stac", headers=headers)
        listed = [i.id for i in client.get_collection("geotiff").get_items()]
        searched = [i.id for i in client.search(collections=["geotiff"], limit=100).items()]
    assert guard.refused == []
    assert len(listed) > 10  # the default page is 10: the next links were followed
    assert listed == searched


def test_a_browser_on_another_origin_may_read_the_stac_api(local_stack, catalog) -> None:
    """The preflight and the answers carry CORS headers on the real server (chalice local
    answers OPTIONS itself unless the app has an OPTIONS route), with the request id."""
    http = session()
    origin = {"Origin": "https://radiantearth.github.io"}
    preflight = http.options(
        f"{local_stack.url}/stac/search",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=30,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert preflight.headers["X-Content-Type-Options"] == "nosniff"
    assert preflight.headers["X-Request-Id"]
    answer = http.post(
        f"{local_stack.url}/stac/search",
        json={"limit": 1},
        headers={**origin, **_headers(catalog, "stacalice")},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Request-Id" in answer.headers["Access-Control-Expose-Headers"]
