"""The web application's edges in headless Chromium against the real local stack: addresses
with a trailing slash or no page, a session shared by a browser's tabs, the sign-in page under
the login throttle, and the admin table (confirmations, self-demotion, alignment, phone)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import World, sign_in
from tests.browser.harness import PHONE, assert_accessible, screenshot, watched_page

pytestmark = pytest.mark.e2e


def test_a_trailing_slash_leads_to_the_page_without_it(world: World, browser: Any) -> None:
    tokyo = world.maps["tokyo"]
    with watched_page(browser, world.url) as watched:
        page = watched.page
        response = page.goto(f"maps/{tokyo['id']}/?from=mail")
        assert response is not None and response.status == 200
        assert page.url == f"{world.url}/maps/{tokyo['id']}?from=mail"
        expect(page.get_by_role("heading", name="Tokyo wards")).to_be_visible()
        for path, heading in (("mine/", "My maps"), ("account/", "Account")):
            page.goto(path)
            assert page.url == f"{world.url}/{path.rstrip('/')}"
            # The app ran (its assets loaded from the right base): a guest is asked to sign in.
            expect(page.get_by_role("heading", name=heading)).to_be_visible()
            expect(page.get_by_role("main").get_by_role("link", name="Sign in")).to_be_visible()
        sign_in(page, world.member)
        page.goto("mine/")
        expect(page.get_by_role("heading", name="My maps")).to_be_visible()


@pytest.mark.parametrize("path", ["nope", "maps/", "MAPS/0b0b0b0b-0000-4000-8000-000000000000"])
def test_an_unknown_address_shows_the_app_s_not_found_page(
    world: World, browser: Any, path: str
) -> None:
    with watched_page(browser, world.url) as watched:
        page = watched.page
        response = page.goto(path)
        assert response is not None and response.status == 404
        assert response.headers["content-type"].startswith("text/html")
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
        page.get_by_role("link", name="Browse maps").click()
        expect(page.get_by_label("Search")).to_be_visible()
        if path == "nope":
            page.goto(path)
            assert_accessible(page, "not found")


def test_api_clients_keep_the_json_404(world: World) -> None:
    for path, accept in (
        ("nope", "application/json"),
        ("nope", "*/*"),
        ("v1/nope", "text/html"),
        ("stac/nope/deeper", "text/html"),
    ):
        response = world.http().get(f"{world.url}/{path}", headers={"Accept": accept}, timeout=10)
        assert response.status_code == 404, path
        assert response.headers["Content-Type"] == "application/json", path
        assert response.json()["code"] == "not_found", path


def test_a_session_is_shared_by_tabs_and_a_sign_out_ends_it_in_all(
    world: World, browser: Any
) -> None:
    with watched_page(browser, world.url) as watched:
        first = watched.page
        sign_in(first, world.member)
        second = first.context.new_page()  # a link opened in a new tab
        second.goto("mine")
        expect(second.get_by_role("heading", name="My maps")).to_be_visible()
        expect(second.get_by_role("button", name="Sign out")).to_be_visible()
        second.get_by_role("button", name="Sign out").click()
        expect(second.get_by_role("navigation").get_by_role("link", name="Sign in")).to_be_visible()
        # The first tab follows: signed out too, its members' page redrawn for a guest.
        nav = first.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name="Sign in")).to_be_visible()
        expect(first.get_by_role("button", name="Sign out")).to_have_count(0)
        expect(first.get_by_role("main").get_by_role("link", name="Sign in")).to_be_visible()
        assert first.evaluate("() => localStorage.getItem('mapstock.session')") is None


def test_sign_in_shows_the_wait_the_api_names(world: World, browser: Any) -> None:
    message = "Too many failed login attempts; retry in 45 seconds."
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.route(
            "**/v1/auth/token",
            lambda route: route.fulfill(
                status=429,
                headers={"Retry-After": "45", "X-Request-Id": "req-429-test"},
                json={"code": "too_many_requests", "message": message, "request_id": "r-429"},
            ),
        )
        page.goto("sign-in")
        page.get_by_label("Username").fill(world.member)
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        # The reader's to wait out: the message alone, no request id (that is for 5xx).
        expect(page.get_by_role("alert")).to_have_text(message)


def _user_doc(world: World, admin: str, name: str) -> dict[str, Any]:
    response = world.http().get(f"{world.url}/v1/users", headers=world.headers(admin), timeout=10)
    assert response.status_code == 200, response.text
    return next(u for u in response.json()["items"] if u["username"] == name)


def test_admin_changes_need_a_confirmation_and_admins_cannot_be_deactivated(
    world: World, browser: Any
) -> None:
    name = f"keep{uuid.uuid4().hex[:6]}"
    world.create_user(name, "--days", "30")
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, world.admin)
        page.goto("admin")
        admin_row = page.locator(f"tr[data-user='{world.admin}']")
        expect(admin_row).to_contain_text("Active (admin)")
        expect(admin_row).to_contain_text("Admins are always active.")
        expect(page.get_by_role("button", name=f"Deactivate {world.admin}")).to_have_count(0)

        page.get_by_role("button", name=f"Deactivate {name}").click()
        dialog = page.get_by_role("dialog", name=f"Deactivate {name}?")
        expect(dialog).to_contain_text(f"{name}'s subscription ends now")
        assert_accessible(page, "admin confirmation")
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_have_count(0)
        assert _user_doc(world, world.admin, name)["active"] is True  # nothing sent

        page.get_by_label(f"Role of {name}").select_option("admin")
        page.get_by_role("button", name=f"Save {name}").click()
        dialog = page.get_by_role("dialog", name=f"Change {name}?")
        expect(dialog).to_contain_text("will manage every user and every map")
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        assert _user_doc(world, world.admin, name)["role"] == "member"


def test_an_admin_who_demotes_themselves_is_told_and_signed_out(world: World, browser: Any) -> None:
    name = f"boss{uuid.uuid4().hex[:6]}"
    world.create_user(name, "--role", "admin", "--days", "30")
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, name)
        page.goto("admin")
        page.get_by_label(f"Role of {name}").select_option("member")
        page.get_by_role("button", name=f"Save {name}").click()
        dialog = page.get_by_role("dialog", name=f"Change {name}?")
        expect(dialog).to_contain_text("You will no longer be an administrator")
        expect(dialog).to_contain_text("signed out at once")
        dialog.get_by_role("button", name="Confirm").click()
        expect(page.get_by_role("navigation").get_by_role("link", name="Sign in")).to_be_visible()
        expect(page.locator("#announcer")).to_have_text(
            "You are no longer an administrator: sign in again."
        )
    assert _user_doc(world, world.admin, name)["role"] == "member"


def test_admin_actions_line_up_and_the_table_fits_a_phone(world: World, browser: Any) -> None:
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, world.admin)
        page.goto("admin")
        member_row = page.locator(f"tr[data-user='{world.member}']")
        expect(member_row).to_be_visible()
        # The Actions cells are table cells (not flex boxes): the Save buttons share one column.
        lefts = page.evaluate(
            """() => [...document.querySelectorAll('tbody tr')].map((tr) => {
                const cell = tr.lastElementChild;
                return [getComputedStyle(cell).display,
                        Math.round(cell.querySelector('button').getBoundingClientRect().left)];
            })"""
        )
        assert {display for display, _ in lefts} == {"table-cell"}, lefts
        assert len({left for _, left in lefts}) == 1, lefts
        screenshot(page, "admin-desktop", full_page=True)

    with watched_page(browser, world.url, viewport=PHONE) as watched:
        page = watched.page
        sign_in(page, world.admin)
        page.goto("admin")
        deactivate = page.get_by_role("button", name=f"Deactivate {world.member}")
        expect(deactivate).to_be_visible()
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
        region = page.get_by_role("region", name="Users")
        assert region.evaluate("(el) => el.scrollWidth <= el.clientWidth")
        box = deactivate.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        # Each line says what it is (the column headings are not shown on a phone).
        cell = page.locator(f"tr[data-user='{world.member}'] td[data-label='Subscription ends']")
        label = cell.evaluate("(el) => getComputedStyle(el, '::before').content")
        assert label == '"Subscription ends"'
        assert_accessible(page, "admin (phone)")
        screenshot(page, "admin-phone", full_page=True)
