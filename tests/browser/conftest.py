"""One real local stack and one Chromium for the browser tests of a test worker; users and maps
seeded through the HTTP API and processed by the stack's own pumps."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.browser.harness import clear_screenshots, launch
from tests.e2e.stack import (
    LocalStack,
    database_for_stack,
    kill_leftovers,
    start_stack,
    throwaway_home,
)
from tests.webapp_build import ensure_built

PASSWORD = "correct horse battery staple"
FINAL = {"ready", "rejected", "failed"}


def sign_in(page: Any, username: str) -> None:
    """Sign `username` in through the sign-in page (PASSWORD) and wait for the header to say so."""
    from playwright.sync_api import expect

    page.goto("sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def geojson(lon: float, lat: float, n: int = 12, span: float = 0.4) -> bytes:
    """A small FeatureCollection of points whose bbox starts at (lon, lat)."""
    features = [
        {
            "type": "Feature",
            "properties": {"name": f"point {i}"},
            "geometry": {"type": "Point", "coordinates": [lon + span * i / n, lat + span * i / n]},
        }
        for i in range(n + 1)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


@dataclass
class World:
    """The stack, its users and the maps seeded for the journeys."""

    stack: LocalStack
    tag: str  # unique per run: a word only this run's maps carry
    member: str
    admin: str
    maps: dict[str, dict[str, Any]]
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.stack.url

    def http(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # loopback only
        return session

    def headers(self, username: str) -> dict[str, str]:
        if username in self.tokens:
            return self.tokens[username]
        response = self.http().post(
            f"{self.url}/v1/auth/token",
            json={"username": username, "password": PASSWORD},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        self.tokens[username] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return self.tokens[username]

    def create_user(self, username: str, *args: str) -> None:
        result = self.stack.cli("user", "create", username, *args, password=PASSWORD)
        assert result.returncode == 0, result.stderr

    def upload(self, owner: str, filename: str, data: bytes, **fields: str) -> str:
        response = self.http().post(
            f"{self.url}/v1/maps",
            headers=self.headers(owner),
            files={"file": (filename, data, "application/octet-stream")},
            data=fields,
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["map"]["id"])

    def get(self, map_id: str, owner: str) -> dict[str, Any]:
        response = self.http().get(
            f"{self.url}/v1/maps/{map_id}", headers=self.headers(owner), timeout=10
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_final(self, map_ids: list[str], owner: str, seconds: float = 60) -> None:
        headers = self.headers(owner)
        deadline = time.monotonic() + seconds
        pending = set(map_ids)
        while pending:
            for map_id in list(pending):
                doc = self.http().get(f"{self.url}/v1/maps/{map_id}", headers=headers, timeout=10)
                if doc.json()["status"] in FINAL:
                    pending.discard(map_id)
            if pending and time.monotonic() > deadline:
                pytest.fail(f"maps not processed in {seconds} s: {pending}\n{self.stack.tail()}")
            time.sleep(0.2)


@pytest.fixture(scope="session")
def web_stack() -> Iterator[LocalStack]:
    ensure_built()
    clear_screenshots()
    with database_for_stack() as database_url, throwaway_home() as home:
        # The journeys sign the same members in many times from one address: the login rate
        # limit (its own tests are in tests/functional) is raised out of their way.
        stack = start_stack(home, database_url, {"LOGIN_MAX_PER_ACCOUNT_IP": "1000"})
        pids = stack.run_files()["pids"]
        try:
            yield stack
        finally:
            kill_leftovers(stack, pids)


@pytest.fixture(scope="session")
def world(web_stack: LocalStack) -> World:
    """A member with public, private, rejected and waiting maps, an admin; all processed."""
    tag = f"cairn{uuid.uuid4().hex[:6]}"
    w = World(web_stack, tag, f"mara{tag[-6:]}", f"root{tag[-6:]}", {})
    w.create_user(w.member, "--days", "30")
    w.create_user(w.admin, "--role", "admin", "--days", "30")
    w.maps["alps"] = {
        "id": w.upload(
            w.member,
            "alps.geojson",
            geojson(7.5, 46.2),
            title=f"Alpine huts {tag}",
            description="Huts above 2000 m.",
            visibility="private",
        )
    }
    w.maps["tokyo"] = {
        "id": w.upload(
            w.member,
            "tokyo.geojson",
            geojson(139.6, 35.5),
            title="Tokyo wards",
            visibility="public",
        )
    }
    w.maps["andes"] = {
        "id": w.upload(
            w.member,
            "andes.geojson",
            geojson(-70.5, -33.5),
            title="Andes passes",
            visibility="public",
        )
    }
    w.maps["broken"] = {
        "id": w.upload(
            w.member, "notes.geojson", b'{"type": "FeatureCollection", "feat', title="Broken"
        )
    }
    w.wait_final([m["id"] for m in w.maps.values()], w.member)
    # One map still waiting for its bytes (a presigned upload never sent).
    created = w.http().post(
        f"{w.url}/v1/maps",
        headers=w.headers(w.member),
        json={"filename": "later.tif", "size": 1234, "title": "Coming later"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    w.maps["waiting"] = {"id": created.json()["map"]["id"]}
    for doc in w.maps.values():
        doc.update(w.get(doc["id"], w.member))
    assert w.maps["alps"]["status"] == "ready", w.maps["alps"]
    assert w.maps["alps"]["preview"], "the seeded map has no preview"
    assert w.maps["broken"]["status"] == "rejected", w.maps["broken"]
    return w


@pytest.fixture(scope="session")
def browser(web_stack: LocalStack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()
