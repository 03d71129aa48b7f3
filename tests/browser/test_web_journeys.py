"""The web application in headless Chromium against the real local stack: what guests, members
and admins do, each page checked with axe-core, none allowed a script error, a CSP violation or
a dialog. Screenshots of the main pages land in .local/screenshots/."""

from __future__ import annotations

import datetime as dt
import gzip
import http.client
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, World, geojson, sign_in
from tests.browser.harness import PHONE, assert_accessible, screenshot, watched_page
from tests.browser.upload_fixtures import write_geotiff
from tests.webapp_build import ensure_built

pytestmark = pytest.mark.e2e


def card(page: Any, title: str) -> Any:
    return page.locator(".map-card", has=page.get_by_role("link", name=title, exact=True))


def map_pixel(page: Any, lon: float, lat: float) -> tuple[float, float]:
    """Where (lon, lat) is on the screen now (to aim the mouse at it)."""
    x, y = page.evaluate(
        """([lon, lat]) => {
            const map = window.__mapstock.map.map;
            const point = map.project([lon, lat]);
            const box = map.getContainer().getBoundingClientRect();
            return [box.left + point.x, box.top + point.y];
        }""",
        [lon, lat],
    )
    return float(x), float(y)


def centre(doc: dict[str, Any]) -> tuple[float, float]:
    w, s, e, n = doc["metadata"]["bbox"]
    return (w + e) / 2, (s + n) / 2


def image_loaded(page: Any, locator: Any) -> None:
    locator.wait_for()
    handle = locator.element_handle()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=handle)


def make_public(world: World, name: str) -> None:
    doc = world.maps[name]
    response = world.http().patch(
        f"{world.url}/v1/maps/{doc['id']}",
        headers=world.headers(world.member),
        json={"visibility": "public"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_guest_browses_public_maps_on_the_map_and_the_list(world: World, browser: Any) -> None:
    tokyo, andes = world.maps["tokyo"], world.maps["andes"]
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto("./")
        expect(page.get_by_role("link", name="Tokyo wards")).to_be_visible()
        expect(page.get_by_role("link", name="Andes passes")).to_be_visible()
        # Private, rejected and waiting maps are the member's own business.
        for hidden in (f"Alpine huts {world.tag}", "Broken", "Coming later"):
            expect(page.get_by_role("link", name=hidden)).to_have_count(0)
        # Every listed map is drawn on the map (one source for all of them).
        pane = page.locator(".map-pane")
        expect(pane).to_have_attribute("data-footprints", str(page.locator(".map-card").count()))
        image_loaded(page, card(page, "Tokyo wards").locator("img.thumb"))
        # The list lights up the footprint; the map lights up the card.
        card(page, "Tokyo wards").hover()
        expect(pane).to_have_attribute("data-highlight", tokyo["id"])
        page.mouse.move(*map_pixel(page, *centre(andes)))
        expect(card(page, "Andes passes")).to_have_class("map-card highlight")
        expect(pane).to_have_attribute("data-highlight", andes["id"])
        # A click on a footprint selects its card (focus on its link, for the keyboard).
        page.mouse.click(*map_pixel(page, *centre(tokyo)))
        expect(page.get_by_role("link", name="Tokyo wards")).to_be_focused()
        assert_accessible(page, "browse (guest)")
        screenshot(page, "browse")


def test_member_signs_in_sees_my_maps_and_shares_a_map(world: World, browser: Any) -> None:
    alps = world.maps["alps"]
    title = f"Alpine huts {world.tag}"
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto("./")
        page.get_by_role("link", name="Sign in").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_focused()
        assert_accessible(page, "sign in")
        page.get_by_label("Username").fill(world.member)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        # Back where the Sign in link was (browse); then My maps: every status, the pending
        # and the rejected ones too.
        expect(page.get_by_label("Search")).to_be_visible()
        page.get_by_role("navigation").get_by_role("link", name="My maps").click()
        heading = page.get_by_role("heading", name="My maps")
        expect(heading).to_be_focused()
        expect(card(page, title)).to_contain_text("Private")
        expect(card(page, "Broken")).to_contain_text("Rejected")
        expect(card(page, "Coming later")).to_contain_text("Waiting for the upload")
        # The token is kept in this browser's storage (shared by its tabs), never in a URL.
        token = page.evaluate("() => localStorage.getItem('mapstock.session')")
        assert token and "access" not in page.url and json.loads(token)["token"] not in page.url
        assert_accessible(page, "my maps")
        screenshot(page, "my-maps")

        page.get_by_role("link", name="Broken").click()
        expect(page.get_by_role("heading", name="Broken")).to_be_visible()
        expect(page.get_by_role("status").filter(has_text="Reason:")).to_contain_text(
            world.maps["broken"]["error"]["code"]
        )
        page.go_back()
        page.get_by_role("link", name=title).click()
        expect(page.get_by_role("heading", name=title)).to_be_focused()
        assert "/maps/" + alps["id"] in page.url  # a deep link
        image_loaded(page, page.get_by_role("img", name=f"Preview of {title}"))
        facts = page.locator(".facts")
        expect(facts).to_contain_text("EPSG:4326")
        expect(facts.locator(".fact", has_text="Features")).to_contain_text("13")
        assert_accessible(page, "map page (owner)")
        screenshot(page, "map-page", full_page=True)

        page.get_by_label("Visibility").select_option("public")
        page.get_by_role("button", name="Save", exact=True).click()  # visibility waits for Save
        page.get_by_role("dialog").get_by_role("button", name="Make public").click()
        expect(facts.locator(".fact", has_text="Visibility")).to_contain_text("Public")
        assert world.get(alps["id"], world.member)["visibility"] == "public"

        # A reload keeps the session (localStorage) and lands on the same page.
        page.reload()
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        expect(page.get_by_label("Visibility")).to_have_value("public")


def test_guest_finds_a_shared_map_by_search_and_by_the_map_then_downloads_it(
    world: World, browser: Any, tmp_path: Path
) -> None:
    make_public(world, "alps")  # what the member's journey did (this test may run alone)
    alps, title = world.maps["alps"], f"Alpine huts {world.tag}"
    original = geojson(7.5, 46.2)
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto("./")
        expect(page.get_by_role("link", name="Tokyo wards")).to_be_visible()
        page.get_by_label("Search").fill(world.tag)
        expect(page.get_by_role("link", name=title)).to_be_visible()
        expect(page.locator(".map-card")).to_have_count(1)
        assert f"q={world.tag}" in page.url  # a search is a link one can share
        page.get_by_label("Search").fill("")
        expect(page.get_by_role("link", name="Tokyo wards")).to_be_visible()
        # Zoom the map in on the Alps: the list follows the view (bbox filter).
        page.mouse.move(*map_pixel(page, *centre(alps)))
        for _ in range(10):
            page.mouse.wheel(0, -400)
            page.wait_for_timeout(80)
        expect(page.locator(".count")).to_contain_text("in this view")
        expect(page.get_by_role("link", name="Tokyo wards")).to_have_count(0)
        expect(page.get_by_role("link", name=title)).to_be_visible()
        screenshot(page, "browse-zoomed")

        page.get_by_role("link", name=title).click()
        expect(page.get_by_role("heading", name=title)).to_be_focused()
        expect(page.get_by_label("Visibility")).to_have_count(0)  # not the guest's to change
        assert_accessible(page, "map page (guest)")
        for button in ("Download", "Download original"):
            with page.expect_download() as download:
                page.get_by_role("button", name=button, exact=True).click()
            saved = tmp_path / f"{button}.geojson"
            download.value.save_as(saved)
            assert saved.read_bytes() == original, button
        assert download.value.suggested_filename == "alps.geojson"


def test_member_uploads_a_map_and_watches_it_become_ready(world: World, browser: Any) -> None:
    data = geojson(10.0, 59.8, n=20)
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, world.member)
        page.get_by_role("link", name="Upload", exact=True).click()
        expect(page.get_by_role("heading", name="Upload a map")).to_be_focused()
        assert_accessible(page, "upload")
        page.get_by_label("Map file").set_input_files(
            files=[{"name": "oslo.geojson", "mimeType": "application/geo+json", "buffer": data}]
        )
        page.get_by_label("Title").fill("Oslo fjord")
        page.get_by_label("Visibility").select_option("members")
        page.get_by_role("button", name="Upload").click()
        # The map's page follows it through processing to ready, live.
        expect(page.get_by_role("heading", name="Oslo fjord")).to_be_visible()
        expect(page.locator(".status-box")).to_contain_text("Ready", timeout=60_000)
        image_loaded(page, page.get_by_role("img", name="Preview of Oslo fjord"))
        map_id = page.url.rstrip("/").rsplit("/", 1)[1]
        doc = world.get(map_id, world.member)
        assert (doc["status"], doc["visibility"], doc["size"]) == ("ready", "members", len(data))


def test_owner_edits_and_deletes_a_map(world: World, browser: Any) -> None:
    map_id = world.upload(world.member, "lake.geojson", geojson(8.2, 47.0), title="Lake")
    world.wait_final([map_id], world.member)
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, world.member)
        page.goto(f"maps/{map_id}")
        page.get_by_label("Title").fill("Lake Lucerne")
        page.get_by_label("Description").fill("Shores and piers.")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", name="Lake Lucerne")).to_be_visible()
        doc = world.get(map_id, world.member)
        assert (doc["title"], doc["description"]) == ("Lake Lucerne", "Shores and piers.")
        page.get_by_role("button", name="Delete", exact=True).click()
        dialog = page.get_by_role("dialog", name="Delete this map?")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
        assert world.get(map_id, world.member)["title"] == "Lake Lucerne"  # still there
        page.get_by_role("button", name="Delete", exact=True).click()
        dialog.get_by_role("button", name="Delete map").click()
        expect(page.get_by_role("heading", name="My maps")).to_be_visible()
        gone = world.http().get(
            f"{world.url}/v1/maps/{map_id}", headers=world.headers(world.member), timeout=10
        )
        assert gone.status_code == 404


def test_deactivated_member_sees_the_banner_and_guest_access(world: World, browser: Any) -> None:
    name = f"lapsed{uuid.uuid4().hex[:6]}"
    world.create_user(name, "--days", "30")
    result = world.stack.cli("user", "update", name, "--deactivate")
    assert result.returncode == 0, result.stderr
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, name)
        banner = page.locator("[data-banner=deactivated]")
        expect(banner).to_contain_text("Your subscription has ended")
        expect(banner).to_contain_text("as a guest does")
        page.goto("upload")  # no Upload link for them: the page by its address
        expect(page.get_by_role("heading", name="Upload a map")).to_be_visible()
        expect(page.locator("[data-upload=closed]")).to_contain_text("Ask an administrator")
        expect(page.get_by_label("Map file")).to_have_count(0)
        assert_accessible(page, "upload (deactivated)")
        screenshot(page, "deactivated")


def test_markup_in_titles_descriptions_and_file_names_stays_text(
    world: World, browser: Any
) -> None:
    title = "<img src=x onerror=alert('title')>"
    description = "<script>alert('description')</script><b onmouseover=alert(1)>bold</b>"
    filename = "<svg onload=alert('file')>.geojson"
    map_id = world.upload(
        world.member,
        filename,
        geojson(-3.7, 40.4),
        title=title,
        description=description,
        visibility="public",
    )
    world.wait_final([map_id], world.member)
    stored = world.get(map_id, world.member)
    assert stored["title"] == title and stored["description"] == description
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto("./")
        link = page.get_by_role("link", name=title, exact=True)
        expect(link).to_have_text(title)
        link.click()
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        expect(page.locator(".description")).to_have_text(description)
        expect(page.locator(".fact", has_text="File").locator("dd")).to_have_text(
            stored["filename"]
        )
        # Nothing the payloads describe exists as an element.
        assert page.locator("main img[src='x'], main script, main svg[onload], main b").count() == 0
        page.wait_for_timeout(300)  # an onerror would have fired by now
    # watched_page asserted: no dialog, no script error, no CSP violation.


def test_admin_creates_a_user_who_can_then_sign_in(world: World, browser: Any) -> None:
    name = f"newbie{uuid.uuid4().hex[:6]}"
    until = (dt.date.today() + dt.timedelta(days=90)).isoformat()
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, world.admin)
        page.get_by_role("link", name="Admin").click()
        expect(page.get_by_role("heading", name="Users")).to_be_focused()
        page.get_by_label("Username", exact=True).fill(name)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Role", exact=True).select_option("member")
        page.get_by_label("Subscription ends", exact=True).fill(until)
        page.get_by_role("button", name="Create user").click()
        expect(page.get_by_role("status").filter(has_text="Created")).to_contain_text(name)
        row = page.locator(f"tr[data-user='{name}']")
        expect(row).to_contain_text("Active")
        expect(page.get_by_label(f"Subscription end of {name}")).to_have_value(until)
        assert_accessible(page, "admin")
        screenshot(page, "admin", full_page=True)
        # Deactivated from the same table; then made an admin (admins are always active).
        page.get_by_role("button", name=f"Deactivate {name}").click()
        page.get_by_role("dialog", name=f"Deactivate {name}?").get_by_role(
            "button", name="Confirm"
        ).click()
        expect(page.locator(f"tr[data-user='{name}']")).to_contain_text("Deactivated")
        me = world.http().get(f"{world.url}/v1/me", headers=world.headers(name), timeout=10)
        assert (me.json()["role"], me.json()["active"]) == ("member", False)
        page.get_by_label(f"Role of {name}").select_option("admin")
        page.get_by_role("button", name=f"Save {name}").click()
        page.get_by_role("dialog", name=f"Change {name}?").get_by_role(
            "button", name="Confirm"
        ).click()
        expect(page.locator(f"tr[data-user='{name}']")).to_contain_text("Active (admin)")
        expect(page.get_by_label(f"Role of {name}")).to_have_value("admin")
    world.tokens.pop(name)  # a role change revokes the user's tokens: sign in again
    me = world.http().get(f"{world.url}/v1/me", headers=world.headers(name), timeout=10)
    assert me.status_code == 200
    assert (me.json()["role"], me.json()["active"]) == ("admin", True)


def test_phone_width_has_no_sideways_scrolling(world: World, browser: Any) -> None:
    with watched_page(browser, world.url, viewport=PHONE) as watched:
        page = watched.page
        sign_in(page, world.member)
        for path, heading in (
            ("./", None),
            ("mine", "My maps"),
            (f"maps/{world.maps['tokyo']['id']}", "Tokyo wards"),
        ):
            page.goto(path)
            if heading:
                expect(page.get_by_role("heading", name=heading)).to_be_visible()
            else:
                expect(page.get_by_label("Search")).to_be_visible()
            width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], f"{path}: {width}"
        page.goto("./")
        expect(page.get_by_role("link", name="Tokyo wards")).to_be_visible()
        assert_accessible(page, "browse (phone)")
        screenshot(page, "browse-phone", full_page=True)


def test_the_checks_catch_what_they_look_for(world: World, browser: Any) -> None:
    """axe-core fails an unlabelled control; the page's CSP refuses an inline script (and the
    watcher sees it): the journeys' clean results are not the checks being blind."""
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto("./")
        expect(page.get_by_label("Search")).to_be_visible()
        page.evaluate(
            """() => {
                const script = document.createElement('script');
                script.textContent = 'window.__inline = true';
                document.body.append(script);
                document.querySelector('main').append(document.createElement('input'));
            }"""
        )
        with pytest.raises(AssertionError, match="label"):
            assert_accessible(page, "browse with an unlabelled input")
        assert page.evaluate("() => window.__inline === undefined")
        assert any(v.startswith("script-src") for v in watched.violations())
        assert any("Content Security Policy" in e for e in watched.errors)
        # Seen: cleared, so that the teardown checks only the rest.
        page.evaluate("() => { window.__violations = []; }")
        watched.errors.clear()


def test_a_map_page_shows_the_footprint_of_a_map_with_a_bbox_only(
    world: World, browser: Any, tmp_path: Path
) -> None:
    data = write_geotiff(tmp_path / "hut.tif", 300, seed=5)  # 0.3 degrees from (6.0, 46.5)
    map_id = world.upload(world.member, "hut.tif", data, title="Hut raster", visibility="public")
    world.wait_final([map_id], world.member)
    doc = world.get(map_id, world.member)
    assert (doc["status"], doc["format"]) == ("ready", "geotiff"), doc
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto(f"maps/{map_id}")
        region = page.get_by_role("region", name="Footprint", exact=True)
        expect(region).to_be_visible()
        pane = region.locator(".footprint-map")
        expect(pane.locator("canvas")).to_have_count(1)
        expect(pane).to_have_attribute("data-footprints", "1")
        drawn = page.evaluate(
            """() => {
                const map = window.__mapstock.map.map;
                const hits = map.queryRenderedFeatures({layers: ['footprint-fill']});
                const xs = [], ys = [];
                for (const f of hits) {
                    for (const [x, y] of f.geometry.coordinates.flat()) { xs.push(x); ys.push(y); }
                }
                const bounds = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
                return {ids: [...new Set(hits.map((f) => f.id))], bounds};
            }"""
        )
        assert len(drawn["ids"]) == 1, drawn
        assert drawn["bounds"] == pytest.approx(doc["metadata"]["bbox"], abs=2e-3)
        # The keyboard goes into the map (its canvas and zoom buttons) and out again.
        pane.locator("canvas").focus()
        for _ in range(6):
            page.keyboard.press("Tab")
        assert page.evaluate("() => !document.activeElement.closest('.footprint')")
        assert_accessible(page, "map page with a footprint")
        screenshot(page, "map-page-footprint", full_page=True)
        # A map without a bbox (rejected; waiting for its upload): no map, no empty box.
        sign_in(page, world.member)
        for name in ("broken", "waiting"):
            page.goto(f"maps/{world.maps[name]['id']}")
            expect(page.locator(".status-box .badge")).to_be_visible()
            expect(page.get_by_role("region", name="Footprint", exact=True)).to_have_count(0)
            expect(page.locator(".footprint-map canvas")).to_have_count(0)


def session_ended_then_signed_in_again(page: Any, name: str, back_to: str) -> None:
    """The app forgot the token, says so on the sign-in page, and signing in leads back to
    `back_to` (a full URL)."""
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Your session has ended")).to_be_visible()
    assert page.evaluate("() => localStorage.getItem('mapstock.session')") is None
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page).to_have_url(back_to)


def test_an_ended_session_sends_the_member_to_sign_in_and_back(world: World, browser: Any) -> None:
    name = f"ends{uuid.uuid4().hex[:6]}"
    world.create_user(name, "--days", "30")
    map_id = world.upload(name, "fell.geojson", geojson(-3.1, 54.4), title="Fell paths")
    world.wait_final([map_id], name)
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, name)
        # Revoked on the server (a password change) while the page is open; then an action.
        page.goto(f"maps/{map_id}")
        expect(page.get_by_role("heading", name="Fell paths")).to_be_visible()
        revoked = world.stack.cli("user", "update", name, "--password-stdin", password=PASSWORD)
        assert revoked.returncode == 0, revoked.stderr
        page.get_by_label("Title").fill("Fell paths, renamed")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page).to_have_url(f"{world.url}/sign-in?next=maps%2F{map_id}")
        expect(page.get_by_role("heading", name="Sign in")).to_be_focused()
        assert_accessible(page, "sign in after the session ended")
        session_ended_then_signed_in_again(page, name, f"{world.url}/maps/{map_id}")
        expect(page.get_by_label("Visibility")).to_have_value("private")  # not changed
        # A stored token that no longer works (damaged), found when the page loads.
        page.goto(f"./?q={world.tag}")
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        page.evaluate(
            """() => {
                const saved = JSON.parse(localStorage.getItem('mapstock.session'));
                saved.token = saved.token.slice(0, -4) + 'AAAA';
                localStorage.setItem('mapstock.session', JSON.stringify(saved));
            }"""
        )
        page.reload()
        session_ended_then_signed_in_again(page, name, f"{world.url}/?q={world.tag}")
        expect(page.get_by_label("Search")).to_have_value(world.tag)
        # A stored token past its expiry time (the tab kept it; a reload finds it).
        page.goto("mine")
        expect(page.get_by_role("heading", name="My maps")).to_be_visible()
        page.evaluate(
            """() => {
                const saved = JSON.parse(localStorage.getItem('mapstock.session'));
                saved.expiresAt = Date.now() - 1000;
                localStorage.setItem('mapstock.session', JSON.stringify(saved));
            }"""
        )
        page.reload()
        session_ended_then_signed_in_again(page, name, f"{world.url}/mine")


def test_head_through_the_local_server_is_get_without_a_body(world: World) -> None:
    """Uptime checkers and link previews send HEAD: GET's status and headers, no body. On one
    kept-alive connection, so a body sent after a HEAD answer would garble the next answer."""
    asset = f"/static/{ensure_built()['entries']['app']}"
    host = world.url.split("//", 1)[1]
    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        for path, accept in (("/", "identity"), (asset, "identity"), (asset, "gzip")):
            headers = {"Accept-Encoding": accept}
            connection.request("GET", path, headers=headers)
            got = connection.getresponse()
            body = got.read()
            connection.request("HEAD", path, headers=headers)
            head = connection.getresponse()
            assert head.read() == b"", path
            assert head.status == got.status == 200, path
            assert head.getheader("Content-Type") == got.getheader("Content-Type"), path
            assert head.getheader("Cache-Control") == got.getheader("Cache-Control"), path
            # The identity body's length (a HEAD is not compressed: nothing to compress).
            assert head.getheader("Content-Length") == str(len(uncompressed(got, body))), path
        connection.request("HEAD", "/static/nope.0123456789ab.js")
        missing = connection.getresponse()
        assert (missing.status, missing.read()) == (404, b"")
        connection.request("GET", "/")  # the connection is still in step
        assert connection.getresponse().read().startswith(b"<!doctype html>")
    finally:
        connection.close()


def uncompressed(response: http.client.HTTPResponse, body: bytes) -> bytes:
    return gzip.decompress(body) if response.getheader("Content-Encoding") == "gzip" else body
