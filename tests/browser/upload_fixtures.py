"""For the browser upload tests: a real local stack with small multipart parts, Debian's
Chromium driven by Playwright, a member signed in through the page, GeoTIFFs of a chosen size,
and what the page sends to S3 (part PUTs) recorded."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import webapp_build
from tests.e2e.stack import (
    LocalStack,
    database_for_stack,
    kill_leftovers,
    start_stack,
    throwaway_home,
)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
PASSWORD = "correct horse battery staple"
PART = 256 * 1024
# Parts of 256 KiB (moto takes them: S3_UPLOAD_PART_MIN_SIZE), and multipart from 1 MiB, so a
# GeoTIFF of a few MiB has a dozen parts or more and smaller files take the presigned POST.
STACK_ENV = {
    "S3_UPLOAD_PART_MIN_SIZE": str(PART),
    "MULTIPART_PART_BYTES": str(PART),
    "MULTIPART_THRESHOLD_BYTES": str(1024 * 1024),
    "LOGIN_MAX_PER_ACCOUNT_IP": "1000",
}
FINAL = {"ready", "rejected", "failed"}
PART_PUT = re.compile(r"[?&]partNumber=(\d+)")
# Before any page script: every text the upload's progress line shows and every value of its
# bar, kept on window (the line is replaced by the map's page as soon as the upload ends).
RECORD_PROGRESS = """
window.__progress = {texts: [], values: []};
new MutationObserver((records) => {
  const {texts, values} = window.__progress;
  for (const record of records) {
    const node = record.target.nodeType === 1 ? record.target : record.target.parentElement;
    if (node?.tagName === 'PROGRESS' && record.attributeName === 'value') {
      if (values[values.length - 1] !== node.value) values.push(node.value);
    } else if (node?.classList?.contains('progress-text')) {
      const text = node.textContent;
      if (text && texts[texts.length - 1] !== text) texts.push(text);
    }
  }
}).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
"""


def ensure_webapp_built() -> None:
    """`make webapp` (a no-op when up to date) under the lock the test workers share."""
    webapp_build.ensure_built()


def chromium_args() -> list[str]:
    args = ["--enable-unsafe-swiftshader", "--disable-dev-shm-usage"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to sandbox as root
    return args


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium headless, or a failure naming the package (never a skip)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM}: apt-get install chromium (make "
            "test does it as root), or set CHROMIUM=/path/to/chromium."
        )
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=chromium_args()
    )


@pytest.fixture(scope="module")
def upload_stack() -> Iterator[LocalStack]:
    ensure_webapp_built()
    with database_for_stack() as database_url, throwaway_home() as home:
        stack = start_stack(home, database_url, STACK_ENV)
        pids = stack.run_files()["pids"]
        try:
            yield stack
        finally:
            kill_leftovers(stack, pids)


@pytest.fixture(scope="module")
def chromium(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The browser harness's Chromium when there is one (Playwright's sync API allows one
    instance per thread), else one of our own for this module."""
    try:
        yield request.getfixturevalue("browser")
        return
    except pytest.FixtureLookupError:
        pass
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Member:
    """A member of the stack, with the API at hand to check what the page did."""

    stack: LocalStack
    name: str
    token: str = ""

    def http(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # loopback only
        session.headers["Authorization"] = f"Bearer {self.token}"
        return session

    def get(self, path: str) -> Any:
        response = self.http().get(f"{self.stack.url}/{path}", timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_final(self, map_id: str, seconds: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            doc = self.get(f"v1/maps/{map_id}")
            if doc["status"] in FINAL:
                return dict(doc)
            if time.monotonic() > deadline:
                pytest.fail(f"map {map_id} still {doc['status']} after {seconds} s")
            time.sleep(0.2)

    def original(self, map_id: str) -> bytes:
        """The map's stored original, fetched through a download URL as a browser would."""
        link = self.get(f"v1/maps/{map_id}/download?variant=original&redirect=false")
        response = requests.get(link["url"], timeout=60)
        assert response.status_code == 200, response.text
        return response.content


def new_member(stack: LocalStack) -> Member:
    name = f"up{uuid.uuid4().hex[:8]}"
    created = stack.cli("user", "create", name, "--days", "30", password=PASSWORD)
    assert created.returncode == 0, created.stderr
    response = requests.post(
        f"{stack.url}/v1/auth/token", json={"username": name, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 200, response.text
    return Member(stack, name, response.json()["access_token"])


def write_geotiff(path: Path, side: int, seed: int = 0) -> bytes:
    """An uncompressed EPSG:4326 RGB GeoTIFF of side x side noise pixels (3 bytes each, so its
    size is chosen to the part); returns its bytes."""
    import numpy
    import tifffile

    keys = (1, 1, 0, 4, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326, 2054, 0, 1, 9102)
    tags = [
        (33550, 12, 3, (0.001, 0.001, 0.0), False),
        (33922, 12, 6, (0.0, 0.0, 0.0, 6.0, 46.5, 0.0), False),
        (34735, 3, len(keys), keys, False),
    ]
    pixels = numpy.random.default_rng(seed).integers(0, 256, (side, side, 3), numpy.uint8)
    tifffile.imwrite(path, pixels, photometric="rgb", tile=(256, 256), extratags=tags)
    return path.read_bytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class PartLog:
    """The part PUTs a page sent to S3 and what S3 answered, by part number."""

    sent: list[int] = field(default_factory=list)
    answered: dict[int, list[int]] = field(default_factory=dict)

    def watch(self, page: Any) -> None:
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request: Any) -> None:
        match = PART_PUT.search(request.url)
        if request.method == "PUT" and match:
            self.sent.append(int(match.group(1)))

    def _response(self, response: Any) -> None:
        match = PART_PUT.search(response.url)
        if response.request.method == "PUT" and match:
            self.answered.setdefault(int(match.group(1)), []).append(response.status)

    def stored(self) -> set[int]:
        """The parts S3 answered 200 to."""
        return {n for n, statuses in self.answered.items() if 200 in statuses}


def open_page(browser: Any, base_url: str) -> tuple[Any, Any, list[str]]:
    """A fresh context and page recording the upload's progress; (context, page, errors)."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    context.add_init_script(RECORD_PROGRESS)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def sign_in(page: Any, member: Member) -> None:
    """Through the sign-in page, by the contract's accessible names."""
    page.goto("sign-in")
    page.get_by_label("Username").fill(member.name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def start_upload(page: Any, path: Path, visibility: str = "private") -> None:
    """The upload page: Map file, Visibility, then Upload."""
    page.goto("upload")
    page.get_by_label("Map file").set_input_files(str(path))
    page.get_by_label("Visibility").select_option(visibility)
    page.get_by_role("button", name="Upload").click()


def progress(page: Any) -> dict[str, list[Any]]:
    return dict(page.evaluate("() => window.__progress"))


def resume_records(page: Any) -> list[dict[str, Any]]:
    raw = page.evaluate("() => localStorage.getItem('mapstock.uploads')")
    return list(json.loads(raw)) if raw else []


def hold_parts_after(page: Any, let_through: int) -> PartLog:
    """Let `let_through` part PUTs reach S3 and hold the rest (a stalled link)."""
    parts = PartLog()
    parts.watch(page)
    passed: list[int] = []
    lock = threading.Lock()

    def slow_storage(route: Any) -> None:
        with lock:
            go = route.request.method != "PUT" or len(passed) < let_through
            if go and route.request.method == "PUT":
                passed.append(1)
        if go:
            route.continue_()

    page.route(re.compile(r"partNumber="), slow_storage)
    return parts


def wait_stored(page: Any, parts: PartLog, count: int) -> None:
    """Wait until `count` parts are stored (the held ones never are); raises AssertionError."""
    for _ in range(300):
        if len(parts.stored()) >= count:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{parts.answered}")
