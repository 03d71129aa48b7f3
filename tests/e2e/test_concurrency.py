"""`make run` under parallel load, and upload slots reused against the real pump: chalice local
serves on threads, so every request must get its own database conversation."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.stack import LocalStack
from tests.e2e.test_local_stack import create_member, download, login, session, wait_final

pytestmark = pytest.mark.e2e

USERS = 4
MAPS_EACH = 2


def _geojson(tag: str) -> bytes:
    feature = {
        "type": "Feature",
        "properties": {"tag": tag},
        "geometry": {"type": "Point", "coordinates": [7.0, 46.0]},
    }
    return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()


def _upload(stack: LocalStack, headers: dict[str, str], tag: str) -> Any:
    return session().post(
        f"{stack.url}/v1/maps",
        headers=headers,
        files={"file": (f"{tag}.geojson", _geojson(tag), "application/geo+json")},
        data={"title": tag},
        timeout=60,
    )


def test_parallel_mixed_requests_answer_each_caller_alone(local_stack: LocalStack) -> None:
    stack = local_stack
    names = [f"par{i}{uuid.uuid4().hex[:5]}" for i in range(USERS)]
    for name in names:
        create_member(stack, name)
    headers = {name: login(stack, name) for name in names}
    own: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        for i in range(MAPS_EACH):
            made = _upload(stack, headers[name], f"{name}-seed{i}")
            assert made.status_code == 201, made.text
            own[name].append(made.json()["map"]["id"])
    public = own[names[0]][0]
    shared = session().patch(
        f"{stack.url}/v1/maps/{public}", headers=headers[names[0]], json={"visibility": "public"}
    )
    assert shared.status_code == 200, shared.text

    # Each task returns (status, what went wrong or None): the check runs in the worker.
    def me(name: str) -> tuple[int, str | None]:
        r = session().get(f"{stack.url}/v1/me", headers=headers[name], timeout=60)
        bad = None if r.status_code != 200 or r.json()["username"] == name else r.text
        return r.status_code, bad

    def mine(name: str) -> tuple[int, str | None]:
        r = session().get(
            f"{stack.url}/v1/maps?limit=100&owner=me", headers=headers[name], timeout=60
        )
        if r.status_code != 200:
            return r.status_code, None
        owners = {item["owner"] for item in r.json()["items"]}
        return r.status_code, None if owners <= {name} else f"{name} got {owners}"

    def own_map(name: str, index: int) -> tuple[int, str | None]:
        map_id = own[name][index % MAPS_EACH]
        r = session().get(f"{stack.url}/v1/maps/{map_id}", headers=headers[name], timeout=60)
        ok = r.status_code != 200 or (r.json()["id"], r.json()["owner"]) == (map_id, name)
        return r.status_code, None if ok else r.text

    def guest_browse() -> tuple[int, str | None]:
        r = session().get(f"{stack.url}/v1/maps?limit=100", timeout=60)
        if r.status_code != 200:
            return r.status_code, None
        hidden = [i["id"] for i in r.json()["items"] if i["visibility"] != "public"]
        return r.status_code, f"guest saw {hidden}" if hidden else None

    def upload(name: str, index: int) -> tuple[int, str | None]:
        r = _upload(stack, headers[name], f"{name}-par{index}")
        ok = r.status_code != 201 or r.json()["map"]["owner"] == name
        return r.status_code, None if ok else r.text

    tasks = []
    for index in range(40):
        for name in names[: 2 if index % 2 else USERS]:
            tasks.append(lambda n=name: me(n))
            tasks.append(lambda n=name, i=index: own_map(n, i))
        tasks.append(lambda n=names[index % USERS]: mine(n))
        tasks.append(guest_browse)
        if index % 4 == 0:
            tasks.append(lambda n=names[index % USERS], i=index: upload(n, i))
    assert len(tasks) >= 200
    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(lambda task: task(), tasks))
    statuses = Counter(status for status, _ in results)
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) <= {200, 201}, statuses
    assert [bad for _, bad in results if bad] == []

    # Rows and objects agree: every map has its object and every object its map.
    time.sleep(1)
    env = stack.env()
    s3 = stack.s3()
    keys = {
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=env["MAPSTOCK_BUCKET"], Prefix="maps/"
        )
        for obj in page.get("Contents", [])
        if obj["Key"].endswith("/original")
    }
    from chalicelib.db import connect

    conn = connect(env["DATABASE_URL"])
    try:
        rows = {r[0] for r in conn.run("SELECT object_key FROM app.maps")}
    finally:
        conn.close()
    assert rows == keys
    assert len(rows) >= USERS * MAPS_EACH + 10


def test_reused_upload_slot_cannot_swap_a_ready_map(local_stack: LocalStack) -> None:
    """Through the real presigned POST, moto's own S3 -> SQS event and the pump."""
    stack, http = local_stack, session()
    name = f"swap{uuid.uuid4().hex[:6]}"
    create_member(stack, name)
    headers = login(stack, name)
    data = _geojson("the real map")
    created = http.post(
        f"{stack.url}/v1/maps",
        headers=headers,
        json={"filename": "real.geojson", "size": len(data), "visibility": "public"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    map_id, upload = created.json()["map"]["id"], created.json()["upload"]
    posted = http.post(upload["url"], data=upload["fields"], files={"file": data}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text
    doc = wait_final(stack, map_id, headers)
    assert doc["status"] == "ready", doc
    digest = hashlib.sha256(data).hexdigest()
    assert doc["sha256"] == digest

    swap = (b"<html>swapped</html>" + b" " * len(data))[: len(data)]
    again = http.post(upload["url"], data=upload["fields"], files={"file": swap}, timeout=30)
    assert again.status_code in (200, 201, 204)  # S3 (moto) accepts: the policy is valid
    env = stack.env()
    s3 = stack.s3()
    prefix = f"maps/{map_id}/original"
    deadline = time.monotonic() + 30
    while True:  # the pump delivers the new version's event; the handler removes it
        versions = s3.list_object_versions(Bucket=env["MAPSTOCK_BUCKET"], Prefix=prefix)
        if len(versions.get("Versions", [])) == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(versions.get("Versions", [])) == 1
    after = http.get(f"{stack.url}/v1/maps/{map_id}", headers=headers, timeout=10).json()
    assert (after["status"], after["sha256"]) == ("ready", digest)
    for who in (headers, {}):
        assert download(stack, map_id, who) == data
        original = http.get(
            f"{stack.url}/v1/maps/{map_id}/download?variant=original",
            headers=who,
            allow_redirects=False,
            timeout=10,
        )
        assert http.get(original.headers["Location"], timeout=30).content == data
