"""Hypothesis over real HTTP (`chalice local`, PostgreSQL, moto) for the classes of hostile input
that schemathesis only reaches by luck: JSON nested past the cap on every JSON route, integers
and numbers in anything but ASCII digits, times PostgreSQL would refuse or Python overflow on,
and characters that hide or reorder text in file names, titles and descriptions.

Each property holds an oracle written from the contract, not from the code: the answer is the
right 4xx in the contract's shape naming the field (or the success the oracle expects), never a
5xx, and a refused request writes nothing. FUZZ_EXAMPLES scales the budget (a quarter of it per
property).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.web.request import MAX_JSON_BYTES, MAX_JSON_DEPTH
from chalicelib.web.routes.maps import encode_cursor
from tests.conftest import GEOJSON, Users, multipart
from tests.fuzz.conftest import FuzzSummary, LiveApi, fuzz_examples

MEMBER, ADMIN, VICTIM = "classes-member", "classes-admin", "classes-victim"
EXAMPLES = max(10, fuzz_examples() // 4)
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis folder in the project; each run stands alone
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
_CASES: Counter[str] = Counter()


@dataclass
class Site:
    """The server, an owner connection, a member's map and the callers' headers."""

    api: LiveApi
    conn: Any
    member: dict[str, str]
    admin: dict[str, str]
    map_id: str

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.api.url + path, timeout=30, **kwargs)

    def stored(self) -> Any:
        """Every row a request could have written or changed."""
        return (
            self.conn.run("SELECT id, title, description, filename FROM app.maps ORDER BY id"),
            self.conn.run(
                "SELECT username, role, active_until, token_version, password_hash "
                "FROM app.users ORDER BY username"
            ),
        )


@pytest.fixture(scope="module")
def site(
    stack: dict[str, str], live_api: LiveApi, password_hash: str, fuzz_summary: FuzzSummary
) -> Iterator[Site]:
    from chalicelib import db

    conn = db.connect(stack["ADMIN_DATABASE_URL"])
    conn.run("TRUNCATE app.maps, app.users, app.login_throttle CASCADE")
    users = Users(conn, password_hash)
    users.create(MEMBER)
    users.create(ADMIN, role="admin")
    users.create(VICTIM)
    member, admin = users.headers(MEMBER), users.headers(ADMIN)
    payload, content_type = multipart({"title": "kept"}, ("kept.geojson", GEOJSON))
    made = requests.post(
        f"{live_api.url}/v1/maps",
        data=payload,
        headers={**member, "Content-Type": content_type},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    yield Site(live_api, conn, member, admin, made.json()["map"]["id"])
    conn.close()
    counts = ", ".join(f"{name} {n}" for name, n in sorted(_CASES.items()))
    fuzz_summary.notes.append(f"bad-input classes ({EXAMPLES} examples each): {counts}")


def _refused(response: requests.Response, status: int, prefix: str) -> None:
    """A 4xx in the contract's shape whose message starts with the field's name."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    doc = response.json()
    assert set(doc) == {"code", "message", "request_id"}, doc
    assert doc["request_id"] == response.headers["X-Request-Id"]
    if status == 400:
        assert doc["code"] == "invalid_request", doc
        assert doc["message"].startswith(prefix), (prefix, doc["message"])


# Deep JSON: a nest built from random openers (arrays, objects, both), possibly unterminated,
# possibly as the value of a field, on every JSON route, as a guest or as the right caller.

_OPENERS = {b"[": b"]", b'{"k":': b"}", b'{"k":[': b"]}", b"[{": b"}]"}


def _nest(openers: list[bytes], depth: int, closed: bool, in_a_field: bool) -> bytes:
    opened: list[bytes] = []
    levels = 0
    while levels < depth:
        opener = openers[len(opened) % len(openers)]
        opened.append(opener)
        levels += opener.count(b"[") + opener.count(b"{")
    inner = b'{"k":0}' if opened[-1].endswith(b"{") else b"0"
    closing = b"".join(_OPENERS[o] for o in reversed(opened)) if closed else b""
    nest = b"".join(opened) + inner + closing
    return b'{"title":' + nest + b"}" if in_a_field else nest


@SETTINGS
@given(
    route=st.sampled_from(["login", "create_user", "update_user", "create_map", "update_map"]),
    openers=st.lists(st.sampled_from(list(_OPENERS)), min_size=1, max_size=4),
    depth=st.integers(MAX_JSON_DEPTH + 1, 9000),
    closed=st.booleans(),
    in_a_field=st.booleans(),
    guest=st.booleans(),
)
def test_deep_json_is_refused_on_every_json_route(
    site: Site,
    route: str,
    openers: list[bytes],
    depth: int,
    closed: bool,
    in_a_field: bool,
    guest: bool,
) -> None:
    method, path, caller = {
        "login": ("POST", "/v1/auth/token", {}),
        "create_user": ("POST", "/v1/users", site.admin),
        "update_user": ("PATCH", f"/v1/users/{VICTIM}", site.admin),
        "create_map": ("POST", "/v1/maps", site.member),
        "update_map": ("PATCH", f"/v1/maps/{site.map_id}", site.member),
    }[route]
    raw = _nest(openers, depth, closed, in_a_field)
    assert len(raw) <= MAX_JSON_BYTES  # a 413 would prove nothing here
    _CASES["deep JSON"] += 1
    before = site.stored()
    headers = {"Content-Type": "application/json", **({} if guest else caller)}
    response = site.send(method, path, data=raw, headers=headers)
    if guest and route != "login":
        _refused(response, 401, "")
    else:
        _refused(response, 400, "body:")
    assert site.stored() == before


# Integers and numbers in query strings: accepted only as ASCII digits. The oracle is the
# contract's: limit is 1-100 written in digits 0-9.

_NUMERIC = st.characters(categories=["Nd", "No", "Nl"])
_NOT_ASCII_NUMBER = st.text(st.one_of(_NUMERIC, st.sampled_from("0123456789")), min_size=1).filter(
    lambda s: not s.isascii()
)
_ASCII_JUNK = st.text(st.sampled_from("0123456789 +-_.eExX,"), min_size=1, max_size=20)


@SETTINGS
@given(
    limit=st.one_of(
        _NOT_ASCII_NUMBER,
        _ASCII_JUNK,
        st.integers(-(10**25), 10**25).map(str),
        st.integers(0, 101).map(str),  # the edges, so the accepted branch is reached too
        st.just(""),
    )
)
def test_limit_is_ascii_digits_from_1_to_100(site: Site, limit: str) -> None:
    response = site.send("GET", "/v1/maps", params={"limit": limit}, headers=site.member)
    valid = bool(re.fullmatch(r"[0-9]+", limit)) and 1 <= int(limit) <= 100
    _CASES["limit " + ("accepted" if valid else "refused")] += 1
    if valid:
        assert response.status_code == 200, (limit, response.text[:300])
        assert len(response.json()["items"]) <= int(limit)
    else:
        _refused(response, 400, "limit:")


@SETTINGS
@given(
    numbers=st.lists(st.integers(0, 9).map(str), min_size=4, max_size=4),
    spoiled=st.integers(0, 3),
    bad=_NOT_ASCII_NUMBER,
)
def test_bbox_numbers_are_ascii(site: Site, numbers: list[str], spoiled: int, bad: str) -> None:
    _CASES["bbox"] += 1
    numbers[spoiled] = bad
    response = site.send("GET", "/v1/maps", params={"bbox": ",".join(numbers)})
    _refused(response, 400, "bbox:")


# Times: any ISO 8601 time with any offset Python can parse (up to 23:59), in years 1-9999, and
# strings that look like times. The oracle: accepted exactly when the offset is under 16 hours
# and the instant falls in 1970-9999 in UTC; then it is stored as that instant.

_OFFSET = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: dt.timedelta(minutes=m))
_SPECIAL_TIMES = st.sampled_from(
    [
        "infinity",
        "-infinity",
        "NaN",
        "epoch",
        "now",
        "0000-01-01",
        "10000-01-01",
        "10000-01-01T00:00:00Z",
        "2020-12-31T23:59:60Z",
        "2021-02-29",
        "2021-02-30T00:00:00Z",
        "2030-01-01T24:00:00Z",
        "2030-01-01T00:00:00+24:00",
    ]
)


def _in_range(value: dt.datetime) -> dt.datetime | None:
    """The UTC instant the API should store, or None when it must be refused."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) >= dt.timedelta(hours=16):
        return None
    try:
        utc = value.astimezone(dt.UTC) if offset is not None else value.replace(tzinfo=dt.UTC)
    except OverflowError:
        return None
    return utc if 1970 <= utc.year <= 9999 else None


@SETTINGS
@given(
    when=st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    offset=st.one_of(st.none(), _OFFSET),
    special=st.one_of(st.none(), _SPECIAL_TIMES),
    where=st.sampled_from(["create_user", "update_user", "cursor"]),
)
def test_times_are_stored_as_the_instant_or_refused(
    site: Site, when: dt.datetime, offset: dt.timedelta | None, special: str | None, where: str
) -> None:
    value = when if offset is None else when.replace(tzinfo=dt.timezone(offset))
    text = special if special is not None else value.isoformat()
    expected = None if special is not None else _in_range(value)
    _CASES["times " + ("refused" if expected is None else "accepted")] += 1
    before = site.stored()
    if where == "cursor":
        cursor = encode_cursor({"created_at": text, "id": str(uuid.uuid4())})
        response = site.send("GET", "/v1/maps", params={"cursor": cursor}, headers=site.member)
        if expected is None:
            _refused(response, 400, "cursor:")
        else:
            assert response.status_code == 200, (text, response.text[:300])
        return
    if where == "create_user":
        name = "zz" + uuid.uuid4().hex[:12]
        doc = {"username": name, "password": "long enough pw", "active_until": text}
        response = site.send("POST", "/v1/users", json=doc, headers=site.admin)
    else:
        doc = {"active_until": text}
        response = site.send("PATCH", f"/v1/users/{VICTIM}", json=doc, headers=site.admin)
    if expected is None:
        _refused(response, 400, "active_until:")
        assert site.stored() == before
    else:
        assert response.status_code in (200, 201), (text, response.text[:300])
        stored = expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert response.json()["active_until"] == stored, text


# What people are shown: any format character (Cf), line or paragraph separator or C1 control,
# anywhere in an otherwise plain name, in every field and every upload form.

_HIDDEN = st.one_of(
    st.characters(categories=["Cf", "Zl", "Zp"]),
    st.characters(min_codepoint=0x80, max_codepoint=0x9F),
)
_PLAIN = st.text(st.sampled_from("abcdefghij XYZ-_"), min_size=1, max_size=30)


def _upload(site: Site, form: str, field: str, text: str) -> requests.Response:
    fields = {field: text} if field != "filename" else {}
    filename = text + ".geojson" if field == "filename" else "plain.geojson"
    if form == "multipart":
        payload, content_type = multipart(fields, (filename, GEOJSON))
        headers = {**site.member, "Content-Type": content_type}
        return site.send("POST", "/v1/maps", data=payload, headers=headers)
    if form == "raw":
        headers = {**site.member, "Content-Type": "application/octet-stream"}
        params = {"filename": filename, **fields}
        return site.send("POST", "/v1/maps", params=params, data=GEOJSON, headers=headers)
    if form == "presigned":
        doc = {"filename": filename, "size": 10, **fields}
        return site.send("POST", "/v1/maps", json=doc, headers=site.member)
    return site.send("PATCH", f"/v1/maps/{site.map_id}", json=fields, headers=site.member)


@SETTINGS
@given(
    target=st.sampled_from(
        [
            (form, field)
            for form in ("multipart", "raw", "presigned", "patch")
            for field in ("filename", "title", "description")
            if (form, field) != ("patch", "filename")
        ]
    ),
    text=_PLAIN,
    hidden=_HIDDEN,
    at=st.integers(0, 30),
)
def test_hidden_characters_are_refused_in_what_people_see(
    site: Site, target: tuple[str, str], text: str, hidden: str, at: int
) -> None:
    form, field = target
    _CASES["hidden characters"] += 1
    at = min(at, len(text))
    spoiled = text[:at] + hidden + text[at:]
    before = site.stored()
    response = _upload(site, form, field, spoiled)
    # Raw uploads name their query fields "query title: ..." when the type check refuses first.
    _refused(response, 400, "")
    message = response.json()["message"]
    assert message.startswith((f"{field}:", f"query {field}:")), (spoiled, message)
    assert site.stored() == before
