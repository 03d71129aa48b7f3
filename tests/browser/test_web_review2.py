"""What an outside review of the web application found (part 2), each checked in headless
Chromium against the real local stack: visibility saved only by Save (public asked first, unsaved
edits kept from a careless click away), failures said plainly with a Retry, field errors at their
field, a named account link, footprints across the antimeridian, clustered markers, and the
preview's caption."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import World, geojson, sign_in
from tests.browser.harness import assert_accessible, screenshot, watched_page
from tests.browser.test_web_review import small_geotiff

pytestmark = pytest.mark.e2e

SERVICE_PROBLEM = "The service had a problem; try again in a moment."
MAP_DOC = re.compile(r".*/v1/maps/[^/?]+$")
MAP_LIST = re.compile(r".*/v1/maps(\?.*)?$")


def crossing_geotiff(path: Path) -> bytes:
    """EPSG:4326, 200 x 100 pixels of 0.01 degree from 179 E, -16: its bbox is 179..-179."""
    import numpy
    import tifffile

    keys = (1, 1, 0, 4, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326, 2054, 0, 1, 9102)
    tags = [
        (33550, 12, 3, (0.01, 0.01, 0.0), False),
        (33922, 12, 6, (0.0, 0.0, 0.0, 179.0, -16.0, 0.0), False),
        (34735, 3, len(keys), keys, False),
    ]
    pixels = numpy.random.default_rng(3).integers(0, 256, (100, 200, 3), numpy.uint8)
    tifffile.imwrite(path, pixels, photometric="rgb", extratags=tags)
    return path.read_bytes()


@pytest.fixture(scope="module")
def review2(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """This module's maps, titled with a word of their own: one private to edit, one across the
    antimeridian, one of non-square pixels, six stacked on one spot and two more near them."""
    word = f"tarn{uuid.uuid4().hex[:6]}"
    folder = tmp_path_factory.mktemp("review2")
    up = world.upload
    ids: dict[str, Any] = {
        "edit": up(world.member, "e.geojson", geojson(-3.0, 54.0), title=f"Fells {word}"),
        "dateline": up(
            world.member,
            "dateline.tif",
            crossing_geotiff(folder / "dateline.tif"),
            title=f"Dateline {word}",
            visibility="public",
        ),
        "tall": up(
            world.member,
            "tall.tif",
            small_geotiff(folder / "tall.tif"),
            title=f"Tall pixels {word}",
            visibility="public",
        ),
        "stack": [
            up(
                world.member,
                f"z{i}.geojson",
                geojson(8.5, 47.3),
                title=f"Zurich {i} {word}",
                visibility="public",
            )
            for i in range(6)
        ],
        "near": [
            up(
                world.member,
                f"n{i}.geojson",
                geojson(9.6, 46.8),
                title=f"Chur {i} {word}",
                visibility="public",
            )
            for i in range(2)
        ],
    }
    everything = [ids["edit"], ids["dateline"], ids["tall"], *ids["stack"], *ids["near"]]
    world.wait_final(everything, world.member)
    dateline = world.get(ids["dateline"], world.member)
    assert dateline["status"] == "ready", dateline
    west, _, east, _ = dateline["metadata"]["bbox"]
    assert west > east, dateline["metadata"]["bbox"]  # the file crosses 180 as intended
    return {"word": word, **ids}


def test_visibility_waits_for_save_and_public_is_confirmed(
    world: World, browser: Any, review2: dict[str, Any]
) -> None:
    map_id = review2["edit"]
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, world.member)
        page.goto(f"maps/{map_id}")
        expect(page.get_by_role("heading", name=f"Fells {review2['word']}")).to_be_visible()
        patches: list[str] = []
        page.on(
            "request",
            lambda r: patches.append(r.post_data or "") if r.method == "PATCH" else None,
        )
        select = page.get_by_label("Visibility")
        select.focus()
        page.keyboard.press("ArrowDown")  # private -> members, by the keyboard
        expect(select).to_have_value("members")
        page.keyboard.press("ArrowDown")  # -> public
        expect(select).to_have_value("public")
        expect(page.locator(".saved")).to_have_text("Unsaved changes.")
        page.wait_for_timeout(300)
        assert patches == []  # nothing sent by stepping through the options
        fact = page.locator(".fact", has_text="Visibility").locator("dd")
        expect(fact).to_have_text("Private")

        # Leaving with the edit unsaved asks; Stay keeps the page and the edit.
        page.get_by_role("link", name="Browse").first.click()
        dialog = page.get_by_role("dialog", name="Leave without saving?")
        expect(dialog).to_be_visible()
        expect(dialog.get_by_role("button", name="Stay")).to_be_focused()
        page.keyboard.press("Enter")
        expect(dialog).to_have_count(0)
        assert f"/maps/{map_id}" in page.url
        expect(select).to_have_value("public")

        # Save widens to public only once confirmed: Cancel sends nothing.
        page.get_by_role("button", name="Save", exact=True).focus()
        page.keyboard.press("Enter")
        ask = page.get_by_role("dialog", name="Make this map public?")
        expect(ask).to_be_visible()
        assert_accessible(page, "confirming a public map")
        page.keyboard.press("Escape")
        expect(ask).to_have_count(0)
        assert patches == []
        page.get_by_role("button", name="Save", exact=True).click()
        ask.get_by_role("button", name="Make public").click()
        expect(fact).to_have_text("Public")
        expect(page.locator(".saved")).to_have_text("Saved.")
        assert len(patches) == 1 and '"visibility":"public"' in patches[0], patches
        assert world.get(map_id, world.member)["visibility"] == "public"

        # Narrowing needs no question; saved, the page leaves without one.
        select.select_option("private")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(fact).to_have_text("Private")
        page.get_by_role("link", name="Browse").first.click()
        expect(page.get_by_role("dialog")).to_have_count(0)
        expect(page.get_by_role("heading", name="Browse maps")).to_be_attached()


def test_failures_are_said_plainly_with_a_retry(
    world: World, browser: Any, review2: dict[str, Any]
) -> None:
    map_id = review2["dateline"]
    html_500 = {
        "status": 500,
        "content_type": "text/html",
        "headers": {"X-Request-Id": "req-html-500"},
        "body": "<html><body>Oops</body></html>",
    }
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.route(MAP_DOC, lambda route: route.fulfill(**html_500))
        page.goto(f"maps/{map_id}")
        alert = page.get_by_role("alert")
        expect(alert).to_have_text(SERVICE_PROBLEM)
        expect(page.locator(".load-failure .support")).to_have_text("Request id: req-html-500")
        assert_accessible(page, "map page that failed to load")
        page.unroute(MAP_DOC)
        page.get_by_role("button", name="Retry").click()
        expect(page.get_by_role("heading", name=f"Dateline {review2['word']}")).to_be_visible()
        expect(page.get_by_role("button", name="Retry")).to_have_count(0)

        # Browse: a gateway's 502 is not shown verbatim; Retry loads the list.
        page.route(
            MAP_LIST,
            lambda route: route.fulfill(status=502, json={"message": "Internal server error"}),
        )
        page.goto(f"./?q={review2['word']}")
        expect(page.get_by_role("alert")).to_have_text(SERVICE_PROBLEM)
        expect(page.get_by_text("Internal server error")).to_have_count(0)
        page.unroute(MAP_LIST)
        page.get_by_role("button", name="Retry").click()
        expect(page.get_by_role("link", name=f"Dateline {review2['word']}")).to_be_visible()
        expect(page.get_by_role("alert")).to_have_count(0)


def test_field_errors_sit_at_their_field_and_user_errors_carry_no_request_id(
    world: World, browser: Any
) -> None:
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto("sign-in")
        page.get_by_label("Username").fill(world.member)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")

        sign_in(page, world.admin)
        page.goto("admin")
        page.get_by_label("Username", exact=True).fill(f"pip{uuid.uuid4().hex[:6]}")
        password = page.get_by_label("Password", exact=True)
        password.fill("x")
        page.get_by_role("button", name="Create user").click()
        expect(password).to_have_attribute("aria-invalid", "true")
        line = page.locator(".field", has=password).locator(".error")
        expect(line).to_have_text("Must be 8 to 72 bytes (UTF-8).")
        assert line.get_attribute("id") in (password.get_attribute("aria-describedby") or "")
        expect(password).to_be_focused()
        expect(page.locator(".admin > .error")).to_be_hidden()  # not at the top of the page
        expect(page.get_by_text(re.compile(r"\(request "))).to_have_count(0)
        assert_accessible(page, "admin form with a field error")
        password.fill("a long enough password 1")
        page.get_by_role("button", name="Create user").click()
        expect(page.get_by_text(re.compile(r"^Created pip"))).to_be_visible()
        expect(password).not_to_have_attribute("aria-invalid", "true")


def test_the_account_link_says_what_it_is(world: World, browser: Any) -> None:
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, world.member)
        link = page.get_by_role("link", name=f"Account: {world.member}", exact=True)
        expect(link).to_have_text(world.member)
        link.click()
        expect(page.get_by_role("heading", name="Your account")).to_be_visible()


def drawn_across(page: Any, lon_west: float, lon_east: float, lat: float) -> list[bool]:
    """Whether the footprint layer is drawn at each of a few points from lon_west to lon_east
    (past 180 as the unwrapped longitude), all on screen."""
    return list(
        page.evaluate(
            """([w, e, lat]) => {
                const map = window.__mapstock.map.map;
                const box = map.getContainer().getBoundingClientRect();
                const out = [];
                for (let i = 0; i <= 4; i += 1) {
                  const p = map.project([w + ((e - w) * i) / 4, lat]);
                  const inside = p.x > 0 && p.y > 0 && p.x < box.width && p.y < box.height;
                  const hit = map.queryRenderedFeatures(p, {layers: ['footprint-fill']}).length > 0;
                  out.push(inside && hit);
                }
                return out;
            }""",
            [lon_west, lon_east, lat],
        )
    )


def test_a_map_across_the_antimeridian_is_drawn_whole(
    world: World, browser: Any, review2: dict[str, Any]
) -> None:
    title = f"Dateline {review2['word']}"
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto(f"maps/{review2['dateline']}")
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        pane = page.locator(".footprint-map")
        expect(pane).to_have_attribute("data-footprints", "1")
        page.wait_for_function("() => window.__mapstock.map.map.loaded()")
        assert drawn_across(page, 179.1, 180.9, -16.5) == [True] * 5
        screenshot(page, "antimeridian-map-page", full_page=True)

        # Browse centred on 180: the view's bbox crosses it, and the map is found and whole.
        page.goto(f"./?q={review2['word']}&view=6/-16.5/180")
        expect(page.locator(".count")).to_contain_text("in this view")
        expect(page.get_by_role("link", name=title, exact=True)).to_be_visible()
        expect(page.get_by_role("link", name=f"Tall pixels {review2['word']}")).to_have_count(0)
        page.wait_for_function("() => window.__mapstock.map.map.loaded()")
        assert drawn_across(page, 179.1, 180.9, -16.5) == [True] * 5
        screenshot(page, "antimeridian-browse")
        # Panned east past 180 (a world copy): the URL's view stays within -180..180.
        page.evaluate("() => window.__mapstock.map.map.jumpTo({center: [-179.5, -16.5]})")
        expect(page).to_have_url(re.compile(r"view=6\.00%2F-16\.50000%2F-179\.50000"))
        expect(page.get_by_role("link", name=title, exact=True)).to_be_visible()


def test_nearby_maps_cluster_and_stacked_ones_are_picked_from_a_list(
    world: World, browser: Any, review2: dict[str, Any]
) -> None:
    word = review2["word"]
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto(f"./?q={word}")  # the whole world: no view filter
        expect(page.locator(".count")).to_have_text("10 maps")
        # Drawn (SwiftShader is slow on a loaded machine: the long waits are for it).
        expect(page.locator(".map-pane")).to_have_attribute("data-footprints", "10", timeout=30_000)
        # The eight maps near Zurich and Chur are one cluster at world zoom, with its count.
        cluster = page.get_by_role("button", name="8 maps here: zoom in")
        expect(cluster).to_have_text("8", timeout=15_000)
        screenshot(page, "clusters-world")
        zoom = page.evaluate("() => window.__mapstock.map.map.getZoom()")
        cluster.click()
        stacked = page.get_by_role("button", name="6 maps here: zoom in")
        expect(stacked).to_be_visible(timeout=15_000)
        expect(page.get_by_role("button", name="2 maps here: zoom in")).to_be_visible()
        assert page.evaluate("() => window.__mapstock.map.map.getZoom()") > zoom + 2
        screenshot(page, "clusters-zoomed")
        # Six on one spot never come apart: the keyboard opens the list to pick from.
        stacked.focus()
        page.keyboard.press("Enter")
        pick = page.get_by_role("group", name="6 maps here")
        expect(pick.get_by_role("link")).to_have_count(6)
        expect(pick.get_by_role("link").first).to_be_focused()
        assert_accessible(page, "browse with the pick list")
        screenshot(page, "clusters-pick")
        pick.get_by_role("link", name=f"Zurich 3 {word}").click()
        expect(page.get_by_role("heading", name=f"Zurich 3 {word}")).to_be_visible()

        # Zoomed in on the stacked boxes, a click on them lists them too.
        page.goto(f"./?q={word}&view=12/47.45/8.65")
        expect(page.locator(".count")).to_contain_text("in this view")
        page.wait_for_function("() => window.__mapstock.map.map.loaded()")
        box = page.locator(".map-pane canvas").bounding_box()
        assert box
        page.mouse.click(box["x"] + 30, box["y"] + box["height"] - 30)
        expect(page.get_by_role("group", name="6 maps here").get_by_role("link")).to_have_count(6)


def test_the_preview_caption_explains_a_changed_shape(
    world: World, browser: Any, review2: dict[str, Any]
) -> None:
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto(f"maps/{review2['tall']}")
        caption = page.locator(".preview figcaption")
        expect(caption).to_have_text(
            re.compile("^Preview, \\d+ \u00d7 256 px \\(resampled to square degrees\\)$")
        )
        expect(page.locator(".fact", has_text="Dimensions")).to_contain_text("118 \u00d7 256 px")
        # Square pixels: the preview has the raster's shape, and nothing more is said.
        page.goto(f"maps/{review2['dateline']}")
        expect(caption).to_have_text("Preview, 200 \u00d7 100 px")
