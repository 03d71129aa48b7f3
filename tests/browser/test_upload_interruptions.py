"""Interrupted uploads on the upload page in headless Chromium against the real local stack:
a cancel says what it did for each kind of upload, leaving asks first, a stray drop stays in
the app, a sign-out mid-upload removes the map with the token still valid, an unfinished
upload is named after a reload, and an offline spell waits instead of failing. Parts are
256 KiB here (upload_fixtures.STACK_ENV)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import upload_fixtures
from tests.browser.harness import assert_accessible
from tests.browser.upload_fixtures import (
    PART,
    hold_parts_after,
    new_member,
    open_page,
    resume_records,
    sign_in,
    start_upload,
    wait_stored,
    write_geotiff,
)

pytestmark = pytest.mark.e2e
upload_stack = upload_fixtures.upload_stack
chromium = upload_fixtures.chromium

MAP_URL = re.compile(r"/maps/([0-9a-f-]{36})$")


def awaiting(member: Any) -> list[str]:
    doc = member.get("v1/maps?owner=me&status=awaiting_upload")
    return [m["id"] for m in doc["items"]]


def test_cancelling_a_small_upload_says_its_map_was_removed(upload_stack, chromium, tmp_path):
    member = new_member(upload_stack)
    path = tmp_path / "hut.tif"
    write_geotiff(path, 300, seed=5)  # below the multipart threshold: one presigned POST
    storage = upload_stack.env()["AWS_ENDPOINT_URL"]
    context, page, errors = open_page(chromium, upload_stack.url)
    try:
        sign_in(page, member)
        posted: list[str] = []

        def hang(route: Any) -> None:
            if route.request.method == "POST":
                posted.append(route.request.url)  # held: the upload never ends by itself
            else:
                route.continue_()

        page.route(lambda url: url.startswith(storage), hang)
        start_upload(page, path)
        for _ in range(100):
            if posted:
                break
            page.wait_for_timeout(100)
        assert posted and len(awaiting(member)) == 1
        page.get_by_role("button", name="Cancel").click()
        page.get_by_text("Cancelled: the upload stopped and its map was removed.").wait_for()
        assert awaiting(member) == []  # the message is true: no map waits
        assert resume_records(page) == []
        assert errors == []
    finally:
        context.close()


def test_leaving_mid_upload_asks_first_and_a_stray_drop_stays_in_the_app(
    upload_stack, chromium, tmp_path
):
    member = new_member(upload_stack)
    path = tmp_path / "col.tif"
    write_geotiff(path, 900, seed=6)  # 12 parts
    context, page, errors = open_page(chromium, upload_stack.url)
    try:
        sign_in(page, member)
        page.goto("upload")
        file_input = page.get_by_label("Map file")
        assert ".geojson" in (file_input.get_attribute("accept") or "").split(",")
        assert ".tif" in (file_input.get_attribute("accept") or "").split(",")
        expect(page.locator(".drop-zone")).to_contain_text("drop it here")
        # A file dropped beside the zone is refused (the browser would open it and leave the
        # app); dropped on the zone, it is picked.
        dropped = page.evaluate(
            """() => {
                const drop = (target) => {
                    const data = new DataTransfer();
                    data.items.add(new File(['{}'], 'a.geojson', {type: 'application/json'}));
                    const event = new DragEvent(
                        'drop', {dataTransfer: data, bubbles: true, cancelable: true});
                    target.dispatchEvent(event);
                    return event.defaultPrevented;
                };
                const outside = drop(document.querySelector('h1'));
                const picked = document.querySelector('input[type=file]').files.length;
                const inside = drop(document.querySelector('.drop-zone'));
                const name = document.querySelector('input[type=file]').files[0]?.name;
                return [outside, picked, inside, name];
            }"""
        )
        assert dropped == [True, 0, True, "a.geojson"]

        parts = hold_parts_after(page, 2)
        start_upload(page, path)
        wait_stored(page, parts, 2)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.type), d.dismiss()))
        page.close(run_before_unload=True)  # as a reload or a closed tab would
        for _ in range(50):
            if dialogs:
                break
            page.wait_for_timeout(100)
        assert dialogs == ["beforeunload"]
        assert not page.is_closed()  # dismissed: the page and its upload stay
        page.get_by_role("button", name="Cancel").click()
        page.get_by_text(re.compile(r"^Cancelled: pick the same file again")).wait_for()
        page.close(run_before_unload=True)  # no upload: no question
        page.wait_for_event("close", timeout=5000)
        assert dialogs == ["beforeunload"]
        assert errors == []
    finally:
        context.close()


def test_signing_out_mid_upload_asks_then_removes_the_map_with_the_token(
    upload_stack, chromium, tmp_path
):
    member = new_member(upload_stack)
    path = tmp_path / "saddle.tif"
    write_geotiff(path, 900, seed=7)
    context, page, errors = open_page(chromium, upload_stack.url)
    try:
        sign_in(page, member)
        deletes: list[int] = []
        page.on(
            "response",
            lambda r: deletes.append(r.status) if r.request.method == "DELETE" else None,
        )
        parts = hold_parts_after(page, 2)
        start_upload(page, path)
        wait_stored(page, parts, 2)
        (map_id,) = awaiting(member)

        page.get_by_role("button", name="Sign out").click()
        dialog = page.get_by_role("dialog", name="Stop the upload and sign out?")
        expect(dialog).to_contain_text("removes its unfinished map")
        assert_accessible(page, "sign out during an upload")
        dialog.get_by_role("button", name="Keep uploading").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        expect(page.get_by_role("button", name="Cancel")).to_be_visible()  # still uploading
        assert awaiting(member) == [map_id]

        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("button", name="Stop upload and sign out").click()
        expect(page.get_by_role("navigation").get_by_role("link", name="Sign in")).to_be_visible()
        assert awaiting(member) == []  # no orphan "Waiting for the upload" map
        assert deletes == [204], deletes  # sent with the token: no 401
        assert resume_records(page) == []
        assert errors == []
    finally:
        context.close()


def test_after_a_reload_the_unfinished_upload_says_how_to_resume(upload_stack, chromium, tmp_path):
    member = new_member(upload_stack)
    path = tmp_path / "moraine.tif"
    write_geotiff(path, 900, seed=8)
    context, page, errors = open_page(chromium, upload_stack.url)
    try:
        sign_in(page, member)
        page.goto("upload")
        expect(page.get_by_role("heading", name="Unfinished uploads")).to_have_count(0)
        parts = hold_parts_after(page, 2)
        start_upload(page, path)
        wait_stored(page, parts, 2)
        (map_id,) = awaiting(member)
        page.once("dialog", lambda d: d.accept())  # "Leave site?": yes
        page.reload()
        page.unroute_all(behavior="ignoreErrors")

        expect(page.get_by_role("heading", name="Unfinished uploads")).to_be_visible()
        unfinished = page.locator(".unfinished")
        expect(unfinished).to_contain_text("moraine.tif")
        expect(unfinished).to_contain_text("Pick the same file below to resume")
        assert_accessible(page, "upload page with an unfinished upload")
        unfinished.get_by_role("link").click()
        page.wait_for_url(re.compile(f"/maps/{map_id}$"))
        note = page.locator(".unfinished-upload")
        expect(note).to_contain_text(
            re.compile(
                r"Upload not finished\. Pick the same file on the Upload page to resume "
                r"\(expires .+\)\."
            )
        )
        expect(page.locator(".facts .fact", has_text="Uploaded")).to_have_count(0)
        note.get_by_role("link", name="Upload page").click()
        expect(page.get_by_role("heading", name="Upload a map")).to_be_visible()
        assert errors == []

        # A single-request upload never sent cannot resume: its page says so.
        created = member.http().post(
            f"{upload_stack.url}/v1/maps",
            json={"filename": "later.tif", "size": 1234, "title": "Never sent"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        page.goto(f"maps/{created.json()['map']['id']}")
        expect(page.locator(".unfinished-upload")).to_contain_text(
            "Waiting for the file to arrive. If its upload was interrupted it cannot resume"
        )
        expect(page.locator(".unfinished-upload")).not_to_contain_text("delete")
        expect(page.locator(".facts .fact", has_text="Uploaded")).to_have_count(0)
    finally:
        context.close()


def test_an_offline_spell_waits_for_the_connection_then_the_upload_ends(
    upload_stack, chromium, tmp_path
):
    member = new_member(upload_stack)
    path = tmp_path / "cirque.tif"
    data = write_geotiff(path, 1100, seed=9)
    part_count = -(-len(data) // PART)
    context, page, errors = open_page(chromium, upload_stack.url)
    try:
        sign_in(page, member)
        parts = hold_parts_after(page, 3)
        start_upload(page, path)
        wait_stored(page, parts, 3)
        context.set_offline(True)
        page.unroute_all(behavior="ignoreErrors")  # the held parts fail: no connection
        expect(page.locator(".progress-text")).to_have_text(
            "Offline: the upload continues when the connection returns."
        )
        page.wait_for_timeout(9000)  # longer than every retry's backoff together (~7.5 s)
        expect(page.get_by_role("alert")).to_be_hidden()
        expect(page.get_by_role("button", name="Cancel")).to_be_visible()
        context.set_offline(False)
        page.wait_for_url(MAP_URL, timeout=60_000)
        assert parts.stored() == set(range(1, part_count + 1))
        match = MAP_URL.search(page.url)
        assert match and member.wait_final(match.group(1))["status"] == "ready"
        assert errors == []
    finally:
        context.close()
