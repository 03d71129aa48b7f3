"""Uploads from the upload page in headless Chromium against the real local stack: a large
GeoTIFF goes straight to S3 in parallel parts and becomes ready; an upload cut by a page reload
resumes with the missing parts only; a part S3 fails once is sent again; a small file keeps
the presigned POST. Parts are 256 KiB here (upload_fixtures.STACK_ENV)."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from tests.browser import upload_fixtures
from tests.browser.upload_fixtures import (
    PART,
    PART_PUT,
    PartLog,
    hold_parts_after,
    new_member,
    open_page,
    progress,
    resume_records,
    sha256,
    sign_in,
    start_upload,
    wait_stored,
    write_geotiff,
)

pytestmark = pytest.mark.e2e
# The fixtures, by assignment (pytest finds them in the module; an import would read unused).
upload_stack = upload_fixtures.upload_stack
chromium = upload_fixtures.chromium

MAP_URL = re.compile(r"/maps/([0-9a-f-]{36})$")


def map_id_of(page: Any) -> str:
    page.wait_for_url(MAP_URL, timeout=60_000)
    match = MAP_URL.search(page.url)
    assert match
    return match.group(1)


def ready_with(member, map_id: str, data: bytes) -> dict:
    """The map once final: ready, its checksum and its original the uploaded bytes."""
    doc = member.wait_final(map_id)
    assert doc["status"] == "ready", doc
    assert doc["sha256"] == sha256(data)
    assert member.original(map_id) == data
    return doc


def test_a_large_geotiff_goes_up_in_parallel_parts_and_becomes_ready(
    upload_stack, chromium, tmp_path
):
    member = new_member(upload_stack)
    path = tmp_path / "valley.tif"
    data = write_geotiff(path, 1100)  # 3.5 MiB: 14 parts
    part_count = -(-len(data) // PART)
    assert part_count >= 10
    context, page, errors = open_page(chromium, upload_stack.url)
    try:
        parts = PartLog()
        parts.watch(page)
        sign_in(page, member)
        start_upload(page, path, "members")
        map_id = map_id_of(page)

        assert sorted(parts.sent) == list(range(1, part_count + 1))  # each part once
        assert all(statuses == [200] for statuses in parts.answered.values())
        shown = progress(page)
        assert shown["values"][-1] == 100
        assert shown["texts"][-1].startswith("100 %")
        assert resume_records(page) == []  # finished: nothing left to resume
        assert errors == []
    finally:
        context.close()

    doc = ready_with(member, map_id, data)
    assert doc["visibility"] == "members"
    assert doc["format"] == "geotiff"


def test_an_upload_cut_by_a_reload_resumes_with_the_missing_parts_only(
    upload_stack, chromium, tmp_path
):
    member = new_member(upload_stack)
    path = tmp_path / "ridge.tif"
    data = write_geotiff(path, 1300, seed=1)  # 4.8 MiB: 20 parts
    part_count = -(-len(data) // PART)
    let_through = 5
    context, page, errors = open_page(chromium, upload_stack.url)
    try:
        sign_in(page, member)
        first = PartLog()  # what the first page sends (it watches the page until the reload)
        first.watch(page)
        held: list[Any] = []
        passed: list[int] = []
        lock = threading.Lock()

        def slow_storage(route: Any) -> None:
            # The first parts reach S3; the rest hang, as on a link that stalled.
            if route.request.method != "PUT" or not PART_PUT.search(route.request.url):
                route.continue_()
                return
            with lock:
                go = len(passed) < let_through
                if go:
                    passed.append(1)
            if go:
                route.continue_()
            else:
                held.append(route)

        page.route(re.compile(r"partNumber="), slow_storage)
        start_upload(page, path, "public")
        for _ in range(300):  # until the parts let through are stored (30 s at most)
            if len(first.stored()) >= let_through:
                break
            page.wait_for_timeout(100)
        assert len(first.stored()) == let_through, first.answered
        assert held, "no part was held back"
        records = resume_records(page)
        assert len(records) == 1
        map_id = records[0]["mapId"]
        stored = first.stored()
        state = member.get(f"v1/maps/{map_id}/upload")
        assert {p["part_number"] for p in state["parts"]} == stored

        page.reload()  # the held PUTs die with the page that sent them
        page.unroute_all(behavior="ignoreErrors")
        state = member.get(f"v1/maps/{map_id}/upload")
        assert {p["part_number"] for p in state["parts"]} == stored
        second = PartLog()
        second.watch(page)
        page.get_by_label("Map file").set_input_files(str(path))
        page.get_by_role("button", name="Upload").click()
        assert map_id_of(page) == map_id
        texts = progress(page)["texts"]
        assert any(
            t.startswith(f"Resuming: {let_through} of {part_count} parts already uploaded.")
            for t in texts
        ), texts
        assert progress(page)["values"][-1] == 100
        missing = set(range(1, part_count + 1)) - stored
        assert sorted(second.sent) == sorted(missing)  # only those, each once
        assert resume_records(page) == []
        assert errors == []
    finally:
        context.close()

    doc = ready_with(member, map_id, data)
    assert doc["visibility"] == "public"


def test_a_part_that_fails_once_is_sent_again(upload_stack, chromium, tmp_path):
    member = new_member(upload_stack)
    path = tmp_path / "lake.tif"
    data = write_geotiff(path, 800, seed=2)  # 1.8 MiB: 8 parts
    part_count = -(-len(data) // PART)
    context, page, errors = open_page(chromium, upload_stack.url)
    try:
        sign_in(page, member)
        parts = PartLog()
        parts.watch(page)
        failed: dict[int, str] = {}

        def flaky_storage(route: Any) -> None:
            match = PART_PUT.search(route.request.url)
            number = int(match.group(1)) if match else 0
            if route.request.method != "PUT" or number not in (2, 5) or number in failed:
                route.continue_()
            elif number == 2:  # S3 busy: an HTTP error the page can read (CORS allows it)
                failed[number] = "503"
                route.fulfill(
                    status=503,
                    headers={"Access-Control-Allow-Origin": "*"},
                    body="<Error><Code>SlowDown</Code></Error>",
                )
            else:  # the connection dropped
                failed[number] = "reset"
                route.abort("connectionreset")

        page.route(re.compile(r"partNumber="), flaky_storage)
        start_upload(page, path)
        map_id = map_id_of(page)
        assert failed == {2: "503", 5: "reset"}
        assert sorted(parts.sent) == sorted([*range(1, part_count + 1), 2, 5])
        assert parts.stored() == set(range(1, part_count + 1))
        assert progress(page)["values"][-1] == 100
        assert errors == []
    finally:
        context.close()

    ready_with(member, map_id, data)


def test_a_small_file_keeps_the_presigned_post_with_progress_to_100(
    upload_stack, chromium, tmp_path
):
    member = new_member(upload_stack)
    path = tmp_path / "hut.tif"
    data = write_geotiff(path, 300, seed=3)  # 264 KiB: below the 1 MiB multipart threshold
    context, page, errors = open_page(chromium, upload_stack.url)
    try:
        posts: list[str] = []
        page.on(
            "request",
            lambda r: (
                posts.append(r.method)
                if r.url.startswith(upload_stack.env()["AWS_ENDPOINT_URL"])
                else None
            ),
        )
        sign_in(page, member)
        start_upload(page, path)
        map_id = map_id_of(page)
        assert [m for m in posts if m != "OPTIONS"] == ["POST"]  # one form POST, no parts
        assert progress(page)["values"][-1] == 100
        assert resume_records(page) == []
        assert errors == []
    finally:
        context.close()
    ready_with(member, map_id, data)


def test_cancel_stops_the_parts_and_the_same_file_then_resumes(upload_stack, chromium, tmp_path):
    member = new_member(upload_stack)
    path = tmp_path / "pass.tif"
    data = write_geotiff(path, 900, seed=4)  # 12 parts
    part_count = -(-len(data) // PART)
    let_through = 3
    context, page, errors = open_page(chromium, upload_stack.url)
    try:
        sign_in(page, member)
        parts = hold_parts_after(page, let_through)  # the others hang until the page gives up
        start_upload(page, path, "members")
        wait_stored(page, parts, let_through)
        stored = parts.stored()
        assert len(stored) == let_through, parts.answered
        page.get_by_role("button", name="Cancel").click()
        # A multipart upload can resume: the message says so, and until when.
        page.get_by_text(
            re.compile(r"^Cancelled: pick the same file again to resume \(until .+\)\.$")
        ).wait_for()
        assert page.get_by_role("button", name="Cancel").is_hidden()
        (map_id,) = [r["mapId"] for r in resume_records(page)]
        state = member.get(f"v1/maps/{map_id}/upload")
        assert {p["part_number"] for p in state["parts"]} == stored
        page.unroute_all(behavior="ignoreErrors")
        sent_before = len(parts.sent)

        page.get_by_role("button", name="Upload").click()  # the same file, still picked
        assert map_id_of(page) == map_id
        assert sorted(parts.sent[sent_before:]) == sorted(set(range(1, part_count + 1)) - stored)
        assert errors == []
    finally:
        context.close()
    doc = ready_with(member, map_id, data)
    assert doc["visibility"] == "members"
