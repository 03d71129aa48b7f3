"""Fixes from an outside review, in headless Chromium against the real local stack: My maps
shows the answer to its newest request only and keeps its status filter in the URL, every
"Sign in" link leads back to where the reader was, the Browse links return to this tab's last
search and view, a map whose file this tab just sent never reads as an interrupted upload, and
a member whose subscription ended gets no upload form."""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, World, geojson, sign_in
from tests.browser.harness import assert_accessible, screenshot, watched_page

pytestmark = pytest.mark.e2e


class Held:
    """List requests matching `pattern` are held until release() (a slow answer)."""

    def __init__(self, page: Any, pattern: re.Pattern[str]) -> None:
        self.routes: list[Any] = []
        page.route(pattern, lambda route: self.routes.append(route))

    def release(self) -> None:
        for route in self.routes:
            # The page may have given the request up (aborted it): then no answer comes.
            with contextlib.suppress(PlaywrightError):
                route.continue_()


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def fill_sign_in(page: Any, name: str) -> None:
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_my_maps_shows_the_newest_filter_s_answer_and_keeps_it_in_the_url(
    world: World, browser: Any
) -> None:
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, world.member)
        expect(page.get_by_role("heading", name="My maps")).to_be_visible()
        status = page.get_by_label("Status")
        held = Held(page, re.compile(r"/v1/maps\?.*status=ready"))
        status.select_option("ready")  # its answer is slow…
        status.select_option("rejected")  # …and the reader moved on
        cards = page.locator(".map-list .map-card")
        expect(cards.filter(has_text="Broken")).to_have_count(1)
        held.release()
        page.wait_for_timeout(1500)  # the late answer of "Ready" had time to arrive
        expect(status).to_have_value("rejected")
        expect(page.locator(".map-list .badge.status-ready")).to_have_count(0)
        expect(cards.filter(has_text="Broken")).to_have_count(1)
        expect(page).to_have_url(f"{world.url}/mine?status=rejected")
        # The select is as wide as its longest status, not the page's 1248 px.
        box = status.bounding_box()
        assert box is not None and box["width"] < 400, box

        # Kept across a reload and Back, as browse keeps its filters.
        page.reload()
        expect(page.get_by_label("Status")).to_have_value("rejected")
        expect(cards.filter(has_text="Broken")).to_have_count(1)
        expect(page.locator(".map-list .badge.status-ready")).to_have_count(0)
        page.get_by_role("link", name="Broken").click()
        expect(page.get_by_role("heading", name="Broken")).to_be_visible()
        page.go_back()
        expect(page.get_by_label("Status")).to_have_value("rejected")
        expect(cards.filter(has_text="Broken")).to_have_count(1)

        # A status none of the maps has: said so, with a way back to every map.
        page.get_by_label("Status").select_option("processing")
        expect(page.get_by_role("status").filter(has_text="None of your maps")).to_have_text(
            "None of your maps has the status “Processing”."
        )
        expect(page.get_by_text("You have no maps yet.")).to_have_count(0)
        assert_accessible(page, "my maps (no map with this status)")
        screenshot(page, "my-maps-empty-filter")
        page.get_by_role("button", name="Show maps of any status").click()
        expect(page.get_by_label("Status")).to_have_value("")
        expect(page).to_have_url(f"{world.url}/mine")
        expect(cards.filter(has_text="Broken")).to_have_count(1)
        expect(cards.filter(has_text=f"Alpine huts {world.tag}")).to_have_count(1)


def test_my_maps_drops_a_load_more_answer_that_comes_after_a_filter_change(
    world: World, browser: Any
) -> None:
    name = f"many{uuid.uuid4().hex[:6]}"
    world.create_user(name, "--days", "30")
    for i in range(51):  # one more than a page: "Load more" appears
        created = world.http().post(
            f"{world.url}/v1/maps",
            headers=world.headers(name),
            json={"filename": f"sheet{i}.tif", "size": 1000 + i, "title": f"Sheet {i}"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, name)
        cards = page.locator(".map-list .map-card")
        expect(cards).to_have_count(50)
        held = Held(page, re.compile(r"/v1/maps\?.*cursor="))
        page.get_by_role("button", name="Load more").click()
        page.get_by_label("Status").select_option("ready")
        expect(cards).to_have_count(0)
        held.release()
        page.wait_for_timeout(1500)  # the late second page had time to arrive
        expect(cards).to_have_count(0)
        expect(page.get_by_label("Status")).to_have_value("ready")
        expect(page.get_by_role("status").filter(has_text="None of your maps")).to_have_text(
            "None of your maps has the status “Ready”."
        )
        expect(page.get_by_role("button", name="Load more")).to_be_hidden()


def test_every_sign_in_link_leads_back_where_the_reader_was(world: World, browser: Any) -> None:
    title = f"Members' cols {world.tag}"
    map_id = world.upload(
        world.member, "cols.geojson", geojson(6.9, 45.9), title=title, visibility="members"
    )
    world.wait_final([map_id], world.member)
    reader = f"peer{uuid.uuid4().hex[:6]}"
    world.create_user(reader, "--days", "30")
    with watched_page(browser, world.url) as watched:
        page = watched.page
        # A members' map shared by link, opened signed out: sign in, and the map is there.
        page.goto(f"maps/{map_id}")
        expect(page.get_by_role("heading", name="Map not found")).to_be_visible()
        page.get_by_role("main").get_by_role("link", name="Sign in").click()
        expect(page).to_have_url(f"{world.url}/sign-in?next=maps%2F{map_id}")
        fill_sign_in(page, reader)
        expect(page).to_have_url(f"{world.url}/maps/{map_id}")
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        page.get_by_role("button", name="Sign out").click()

        # Browse with a search and a view, the search then changed (the URL follows it):
        # the header's Sign in comes back to that search and view.
        page.goto("./?q=Zurich&view=10/47.3/8.5")
        expect(page.get_by_label("Search")).to_have_value("Zurich")
        page.get_by_label("Search").fill("Zurich lakes")
        expect(page).to_have_url(re.compile(r"q=Zurich\+lakes"))
        page.get_by_role("navigation").get_by_role("link", name="Sign in").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        fill_sign_in(page, reader)
        expect(page.get_by_label("Search")).to_have_value("Zurich lakes")
        back = query_of(page.url)
        assert urlsplit(page.url).path == "/", page.url
        assert back["q"] == ["Zurich lakes"], page.url
        assert back["view"][0].startswith("10"), page.url
        page.get_by_role("button", name="Sign out").click()

        # A page for members only (Upload): back there after signing in.
        page.goto("upload")
        page.get_by_role("main").get_by_role("link", name="Sign in").click()
        expect(page).to_have_url(f"{world.url}/sign-in?next=upload")
        fill_sign_in(page, reader)
        expect(page.get_by_label("Map file")).to_be_visible()


def test_the_browse_links_on_a_map_page_return_to_the_search_and_view(
    world: World, browser: Any
) -> None:
    tokyo = world.maps["tokyo"]
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto("./?q=Tokyo+wards&view=6/35.7/139.8")
        expect(page.get_by_label("Search")).to_have_value("Tokyo wards")
        page.locator(f".map-card[data-map='{tokyo['id']}'] a").click()
        expect(page.get_by_role("heading", name="Tokyo wards")).to_be_visible()
        page.get_by_role("main").get_by_role("link", name="Browse", exact=True).click()
        expect(page.get_by_label("Search")).to_have_value("Tokyo wards")
        back = query_of(page.url)
        assert back["q"] == ["Tokyo wards"] and back["view"][0].startswith("6"), page.url

        # The header's Browse too, from a map page reached by a deep link in this tab.
        page.goto(f"maps/{tokyo['id']}")
        expect(page.get_by_role("heading", name="Tokyo wards")).to_be_visible()
        page.get_by_role("navigation").get_by_role("link", name="Browse").click()
        expect(page.get_by_label("Search")).to_have_value("Tokyo wards")
        assert query_of(page.url)["view"][0].startswith("6"), page.url

        # Another tab never browsed: its Browse link is plain browse.
        other = page.context.new_page()
        other.goto(f"maps/{tokyo['id']}")
        other.get_by_role("main").get_by_role("link", name="Browse", exact=True).click()
        expect(other.get_by_label("Search")).to_have_value("")
        assert "q" not in query_of(other.url), other.url
        other.close()


def test_a_map_whose_upload_this_tab_did_not_send_may_have_been_interrupted(
    world: World, browser: Any
) -> None:
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, world.member)
        page.goto(f"maps/{world.maps['waiting']['id']}")
        expect(page.locator(".unfinished-upload")).to_have_text(
            "Waiting for the file to arrive. If its upload was interrupted it cannot resume: "
            "upload the file again (this unfinished map is removed automatically when it expires)."
        )


def test_a_member_whose_subscription_ended_gets_no_upload_form(world: World, browser: Any) -> None:
    name = f"ended{uuid.uuid4().hex[:6]}"
    world.create_user(name, "--days", "30")
    result = world.stack.cli("user", "update", name, "--deactivate")
    assert result.returncode == 0, result.stderr
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, name)
        nav = page.get_by_role("navigation")
        expect(nav.get_by_role("link", name="My maps")).to_be_visible()
        expect(nav.get_by_role("link", name="Upload", exact=True)).to_have_count(0)
        expect(page.locator("[data-banner=deactivated]")).to_contain_text("Ask an administrator")
        page.goto("upload")
        expect(page.get_by_role("heading", name="Upload a map")).to_be_visible()
        closed = page.locator("[data-upload=closed]")
        expect(closed).to_contain_text("Your subscription ended")
        expect(closed).to_contain_text("Ask an administrator to renew it.")
        expect(page.get_by_label("Map file")).to_have_count(0)
        expect(page.get_by_role("button", name="Upload")).to_have_count(0)
        assert_accessible(page, "upload (subscription ended)")
        screenshot(page, "upload-subscription-ended")
