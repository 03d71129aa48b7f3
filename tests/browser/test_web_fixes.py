"""Fixes from an outside review, in headless Chromium against the real local stack: a fresh
small upload never advises deleting its map, a sign-out in another tab removes this tab's
upload with the token still valid, in-app navigation during an upload asks first, the admin
page asks before a past subscription date and restores a cancelled change, and a session that
ends in one tab ends with a notice in the others."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.browser import upload_fixtures
from tests.browser.upload_fixtures import (
    PASSWORD,
    Member,
    new_member,
    open_page,
    sign_in,
)

pytestmark = pytest.mark.e2e
upload_stack = upload_fixtures.upload_stack
chromium = upload_fixtures.chromium

MAP_DOC = re.compile(r"/v1/maps/[0-9a-f-]{36}$")
ENDED = "Your session has ended — sign in again."

# Every text the unfinished-upload note shows, as it changes (a brief one would be missed by
# polling the page).
RECORD_NOTES = """
window.__notes = [];
new MutationObserver(() => {
  for (const note of document.querySelectorAll('.unfinished-upload')) {
    const text = note.textContent;
    if (text && window.__notes[window.__notes.length - 1] !== text) window.__notes.push(text);
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def small_geojson(path: Any) -> None:
    features = [
        {
            "type": "Feature",
            "properties": {},
            "geometry": {"type": "Point", "coordinates": [8 + i / 10, 47]},
        }
        for i in range(5)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def awaiting(member: Member) -> list[str]:
    doc = member.get("v1/maps?owner=me&status=awaiting_upload")
    return [m["id"] for m in doc["items"]]


def hold_storage_posts(page: Any, stack: Any) -> list[str]:
    """S3's presigned POSTs are held (never answered): the upload runs until stopped."""
    storage = stack.env()["AWS_ENDPOINT_URL"]
    posted: list[str] = []

    def hang(route: Any) -> None:
        if route.request.method == "POST":
            posted.append(route.request.url)
        else:
            route.continue_()

    page.route(lambda url: url.startswith(storage), hang)
    return posted


def upload_in_app(page: Any, path: Any) -> None:
    """To the Upload page through the header (in-app history), then Upload."""
    page.get_by_role("navigation").get_by_role("link", name="Upload").click()
    page.get_by_label("Map file").set_input_files(str(path))
    page.get_by_role("button", name="Upload").click()


def wait_until(page: Any, check: Any, tries: int = 100) -> None:
    for _ in range(tries):
        if check():
            return
        page.wait_for_timeout(100)
    raise AssertionError("condition not met in time")


def test_a_fresh_small_upload_waits_for_its_file_without_advising_to_delete(
    upload_stack, chromium, tmp_path
):
    member = new_member(upload_stack)
    path = tmp_path / "huts.geojson"
    small_geojson(path)
    context, page, errors = open_page(chromium, upload_stack.url)
    context.add_init_script(RECORD_NOTES)
    try:
        sign_in(page, member)
        # S3's event is held back for the map page's first looks: the map still awaits its
        # upload there (the real API answers GET …/upload with 409 for a single-request upload).
        held = {"count": 0}

        def late_event(route: Any) -> None:
            response = route.fetch()
            doc = response.json()
            if route.request.method == "GET" and held["count"] < 3:
                held["count"] += 1
                doc["status"] = "awaiting_upload"
                doc["uploaded_at"] = None
            route.fulfill(response=response, json=doc)

        page.route(MAP_DOC, late_event)
        upload_in_app(page, path)
        page.wait_for_url(re.compile(r"/maps/[0-9a-f-]{36}$"))
        note = page.locator(".unfinished-upload")
        # This tab sent the whole file: it arrived (never "interrupted"; see
        # test_web_review_links for a map whose upload this tab did not send).
        expect(note).to_have_text(
            "The file has arrived. It is being registered; processing starts in a moment."
        )
        expect(note).to_have_count(0, timeout=60_000)  # S3's event came: the note goes
        map_id = page.url.rsplit("/", 1)[1]
        assert member.wait_final(map_id)["status"] == "ready"
        notes = page.evaluate("() => window.__notes")
        assert notes and all("delete" not in text.lower() for text in notes), notes
        assert all("Upload not finished" not in text for text in notes), notes
        assert all("interrupted" not in text for text in notes), notes
        assert errors == []
    finally:
        context.close()


def test_a_sign_out_in_another_tab_removes_this_tabs_upload_with_the_token(
    upload_stack, chromium, tmp_path
):
    member = new_member(upload_stack)
    path = tmp_path / "pass.geojson"
    small_geojson(path)
    context, uploading, errors = open_page(chromium, upload_stack.url)
    try:
        sign_in(uploading, member)
        deletes: list[int] = []
        uploading.on(
            "response",
            lambda r: deletes.append(r.status) if r.request.method == "DELETE" else None,
        )
        posted = hold_storage_posts(uploading, upload_stack)
        upload_in_app(uploading, path)
        wait_until(uploading, lambda: bool(posted))
        assert len(awaiting(member)) == 1

        other = context.new_page()
        other.goto("")
        other.get_by_role("button", name="Sign out").click()  # no upload there: no question
        expect(other.get_by_role("navigation").get_by_role("link", name="Sign in")).to_be_visible()

        expect(
            uploading.get_by_role("navigation").get_by_role("link", name="Sign in")
        ).to_be_visible()
        wait_until(uploading, lambda: bool(deletes))
        assert deletes == [204], deletes  # sent while this tab still held the token
        assert awaiting(member) == []  # no orphan map
        assert errors == []
    finally:
        context.close()


def test_leaving_the_upload_page_in_the_app_asks_first(upload_stack, chromium, tmp_path):
    member = new_member(upload_stack)
    path = tmp_path / "col.geojson"
    small_geojson(path)
    context, page, errors = open_page(chromium, upload_stack.url)
    try:
        sign_in(page, member)
        posted = hold_storage_posts(page, upload_stack)
        upload_in_app(page, path)
        wait_until(page, lambda: bool(posted))
        (map_id,) = awaiting(member)
        nav = page.get_by_role("navigation")

        nav.get_by_role("link", name="Browse").click()
        dialog = page.get_by_role("dialog", name="Leave this page?")
        expect(dialog).to_contain_text("The upload stops.")
        dialog.get_by_role("button", name="Stay").click()
        expect(page).to_have_url(re.compile(r"/upload$"))
        expect(page.get_by_role("button", name="Cancel")).to_be_visible()  # still uploading
        assert awaiting(member) == [map_id]

        page.go_back()  # Back (the in-app entry before Upload): asked too, the URL comes back
        page.get_by_role("dialog", name="Leave this page?").get_by_role(
            "button", name="Stay"
        ).click()
        expect(page).to_have_url(re.compile(r"/upload$"))
        expect(page.get_by_role("heading", name="Upload a map")).to_be_visible()
        expect(page.get_by_role("button", name="Cancel")).to_be_visible()
        assert awaiting(member) == [map_id]

        nav.get_by_role("link", name="My maps").click()
        page.get_by_role("dialog", name="Leave this page?").get_by_role(
            "button", name="Leave and stop the upload"
        ).click()
        expect(page).to_have_url(re.compile(r"/mine$"))
        wait_until(page, lambda: awaiting(member) == [])

        nav.get_by_role("link", name="Browse").click()  # no upload: no question
        expect(page.get_by_role("dialog")).to_have_count(0)
        expect(page).to_have_url(re.compile(r"/$"))
        assert errors == []
    finally:
        context.close()


def new_admin(stack: Any) -> Member:
    name = f"ad{uuid.uuid4().hex[:8]}"
    created = stack.cli(
        "user", "create", name, "--role", "admin", "--days", "30", password=PASSWORD
    )
    assert created.returncode == 0, created.stderr
    response = requests.post(
        f"{stack.url}/v1/auth/token", json={"username": name, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 200, response.text
    return Member(stack, name, response.json()["access_token"])


def user_doc(admin: Member, username: str) -> dict[str, Any]:
    doc = admin.get("v1/users")
    return next(u for u in doc["items"] if u["username"] == username)


def test_admin_asks_before_a_past_end_date_and_restores_a_cancelled_change(upload_stack, chromium):
    admin = new_admin(upload_stack)
    member = new_member(upload_stack)
    saved_until = user_doc(admin, member.name)["active_until"][:10]
    context, page, errors = open_page(chromium, upload_stack.url)
    try:
        sign_in(page, admin)
        page.goto("admin")
        row = page.locator(f"tr[data-user='{member.name}']")
        until = row.get_by_label(f"Subscription end of {member.name}")
        role = row.get_by_label(f"Role of {member.name}")

        until.fill("2020-01-01")
        row.get_by_role("button", name=f"Save {member.name}").click()
        dialog = page.get_by_role("dialog", name=f"Change {member.name}?")
        expect(dialog).to_contain_text("subscription ends now")
        dialog.get_by_role("button", name="Cancel").click()
        expect(until).to_have_value(saved_until)  # what is saved, not the refused change
        assert user_doc(admin, member.name)["active"] is True

        role.select_option("admin")
        row.get_by_role("button", name=f"Save {member.name}").click()
        page.get_by_role("dialog", name=f"Change {member.name}?").get_by_role(
            "button", name="Cancel"
        ).click()
        expect(role).to_have_value("member")
        assert user_doc(admin, member.name)["role"] == "member"

        until.fill("2020-01-01")
        row.get_by_role("button", name=f"Save {member.name}").click()
        page.get_by_role("dialog", name=f"Change {member.name}?").get_by_role(
            "button", name="Confirm"
        ).click()
        expect(page.locator(f"tr[data-user='{member.name}']")).to_contain_text("Deactivated")
        assert user_doc(admin, member.name)["active"] is False

        # A future date needs no question.
        row = page.locator(f"tr[data-user='{member.name}']")
        row.get_by_label(f"Subscription end of {member.name}").fill("2099-01-01")
        row.get_by_role("button", name=f"Save {member.name}").click()
        expect(page.locator(f"tr[data-user='{member.name}']")).to_contain_text("Active")
        expect(page.get_by_role("dialog")).to_have_count(0)
        assert user_doc(admin, member.name)["active"] is True
        assert errors == []
    finally:
        context.close()


def test_a_session_ended_in_one_tab_ends_with_a_notice_in_the_others(upload_stack, chromium):
    admin = new_admin(upload_stack)
    member = new_member(upload_stack)
    context, first, errors = open_page(chromium, upload_stack.url)
    try:
        sign_in(first, member)  # the sign-in page leads to My maps
        second = context.new_page()
        second.goto("mine")
        expect(second.get_by_role("button", name="Sign out")).to_be_visible()

        # A role change revokes the member's tokens: the first tab's next call answers 401.
        patched = admin.http().patch(
            f"{upload_stack.url}/v1/users/{member.name}", json={"role": "admin"}, timeout=30
        )
        assert patched.status_code == 200, patched.text
        first.get_by_role("navigation").get_by_role("link", name="Browse").click()
        expect(first).to_have_url(re.compile(r"/sign-in\?next="))
        expect(first.locator(".notices")).to_contain_text(ENDED)

        # The other tab follows, with the same notice, and back here after signing in.
        expect(second).to_have_url(re.compile(r"/sign-in\?next=mine$"))
        expect(second.locator(".notices")).to_contain_text(ENDED)
        assert second.evaluate("() => localStorage.getItem('mapstock.session')") is None

        # A stored session that is not JSON at all: ended, with the notice (not a silent guest).
        second.evaluate("() => localStorage.setItem('mapstock.session', 'garbage{')")
        second.goto("account")
        expect(second).to_have_url(re.compile(r"/sign-in\?next=account$"))
        expect(second.locator(".notices")).to_contain_text(ENDED)
        assert second.evaluate("() => localStorage.getItem('mapstock.session')") is None
        assert errors == []
    finally:
        context.close()
