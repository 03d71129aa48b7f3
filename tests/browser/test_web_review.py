"""What an outside review of the web application found, each checked in headless Chromium against
the real local stack: maps without a location under the view filter, errors next to the control
that caused them, previews never enlarged, hostile titles kept in their boxes, human labels,
loading states, the browse view kept in the URL, the attribution toggle's focus outline and the
download count."""

from __future__ import annotations

import io
import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import World, geojson
from tests.browser.harness import PHONE, assert_accessible, screenshot, watched_page
from tests.browser.test_web_journeys import card, sign_in

pytestmark = pytest.mark.e2e

ZALGO = "Z" + "\u0336\u0301\u0308\u030c\u0351\u0357\u0363\u036a" * 12 + "algo"
LONG_WORD = "W" * 200
HEBREW = "מפת שבילים"


def png_scan() -> bytes:
    """A 300 x 200 PNG: a scan, a map with no location."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 180, 120)).save(out, format="PNG")
    return out.getvalue()


def small_geotiff(path: Path) -> bytes:
    """EPSG:4326, 118 x 256 pixels of 0.001375 x 0.00066 degrees: a small, tall preview."""
    import numpy
    import tifffile

    keys = (1, 1, 0, 4, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326, 2054, 0, 1, 9102)
    tags = [
        (33550, 12, 3, (0.001375, 0.00066, 0.0), False),
        (33922, 12, 6, (0.0, 0.0, 0.0, -150.0, 20.0, 0.0), False),
        (34735, 3, len(keys), keys, False),
    ]
    pixels = numpy.random.default_rng(7).integers(0, 256, (256, 118, 3), numpy.uint8)
    tifffile.imwrite(path, pixels, photometric="rgb", extratags=tags)
    return path.read_bytes()


@pytest.fixture(scope="module")
def review(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """This module's public maps, titled with a word of their own."""
    word = f"quill{uuid.uuid4().hex[:6]}"
    tif = small_geotiff(tmp_path_factory.mktemp("review") / "small.tif")
    ids = {
        "scan": world.upload(
            world.member, "scan.png", png_scan(), title=f"Old scan {word}", visibility="public"
        ),
        "tall": world.upload(
            world.member, "small.tif", tif, title=f"Small tiff {word}", visibility="public"
        ),
        "zalgo": world.upload(
            world.member,
            "z.geojson",
            geojson(150.0, -30.0),
            title=f"{ZALGO} {word}",
            visibility="public",
        ),
        "long": world.upload(
            world.member, "l.geojson", geojson(150.5, -30.5), title=LONG_WORD, visibility="public"
        ),
        "hebrew": world.upload(
            world.member,
            "h.geojson",
            geojson(151.0, -31.0),
            title=f"{HEBREW} {word}",
            visibility="public",
        ),
    }
    world.wait_final(list(ids.values()), world.member)
    return {"word": word, **ids}


def view_of(url: str) -> str:
    return parse_qs(urlsplit(url).query).get("view", [""])[0]


def jump(page: Any, lon: float, lat: float, zoom: float) -> None:
    """Move the browse map as a reader would end up (one moveend)."""
    page.evaluate(
        "([lon, lat, zoom]) => window.__mapstock.map.map.jumpTo({center: [lon, lat], zoom})",
        [lon, lat, zoom],
    )


def test_maps_without_a_location_are_explained_under_the_view_filter(
    world: World, browser: Any, review: dict[str, str]
) -> None:
    scan = f"Old scan {review['word']}"
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto(f"./?q={review['word']}")
        # The whole world in view: no spatial filter, the scan is listed, no note.
        expect(page.get_by_role("link", name=scan)).to_be_visible()
        expect(page.locator(".view-note")).to_be_hidden()
        jump(page, 151.0, -31.0, 5)
        expect(page.locator(".count")).to_contain_text("in this view")
        expect(page.get_by_role("link", name=scan)).to_have_count(0)
        note = page.locator(".view-note")
        expect(note).to_contain_text("Maps without a location")
        assert_accessible(page, "browse with the view note")
        # An empty view says what to do.
        jump(page, -30.0, -45.0, 7)
        expect(page.locator(".count")).to_have_text("No maps in this view.")
        expect(note).to_contain_text("Zoom out")
        screenshot(page, "review-browse-empty-view")
        note.get_by_role("button", name="Show all maps").click()
        expect(page.get_by_role("link", name=scan)).to_be_visible()
        expect(page.get_by_label("Only maps in the map view")).not_to_be_checked()
        expect(note).to_be_hidden()
        assert "in_view=0" in page.url


def test_manage_errors_show_next_to_their_control_and_clear_on_success(
    world: World, browser: Any
) -> None:
    map_id = world.upload(world.member, "pond.geojson", geojson(9.0, 47.5), title="Pond")
    world.wait_final([map_id], world.member)
    with watched_page(browser, world.url) as watched:
        page = watched.page
        sign_in(page, world.member)
        page.goto(f"maps/{map_id}")
        title = page.get_by_label("Title")
        hidden = "Pond\u202egpj"  # a pasted bidi override: the API refuses what it hides
        title.fill(hidden)
        page.get_by_label("Description").fill("line one\nline two")
        save = page.get_by_role("button", name="Save")
        save.click()
        # The API names the title: its message is at the title, which is marked invalid.
        problem = page.locator(".field", has=title).locator(".error")
        expect(problem).to_contain_text("bidi")
        expect(problem).to_have_attribute("role", "alert")
        expect(title).to_have_attribute("aria-invalid", "true")
        assert problem.get_attribute("id") in (title.get_attribute("aria-describedby") or "")
        # Next to the field and on screen, not at the top of the page.
        expect(problem).to_be_in_viewport()
        error_box, title_box = problem.bounding_box(), title.bounding_box()
        assert error_box and title_box and 0 <= error_box["y"] - title_box["y"] < 120
        expect(page.locator(".map-page > .error")).to_be_hidden()
        expect(title).to_have_value(hidden)  # what was typed is kept
        title.fill("Pond at dawn")
        save.click()
        expect(page.locator(".saved")).to_have_text("Saved.")
        expect(problem).to_be_hidden()
        expect(title).not_to_have_attribute("aria-invalid", "true")
        expect(page.locator(".description")).to_have_text("line one\nline two")

        # A refusal naming no field (the API is made to refuse once) shows beside Save.
        def refuse(route: Any) -> None:
            if route.request.method != "PATCH":
                route.fallback()
                return
            route.fulfill(
                status=409,
                content_type="application/json",
                body='{"code": "conflict", "message": "Try again later.", "request_id": "r1"}',
            )

        page.route(re.compile(r".*/v1/maps/[^/?]+$"), refuse)
        select = page.get_by_label("Visibility")
        select.select_option("members")
        save.click()
        wrong = page.locator(".edit > .error")
        expect(wrong).to_have_text("Try again later.")  # a 4xx: no request id
        assert wrong.get_attribute("id") in (save.get_attribute("aria-describedby") or "")
        expect(select).to_have_value("members")  # what was chosen is kept, for another try
        expect(page.locator(".fact", has_text="Visibility").locator("dd")).to_have_text("Private")
        page.unroute(re.compile(r".*/v1/maps/[^/?]+$"))
        save.click()
        expect(page.locator(".fact", has_text="Visibility").locator("dd")).to_have_text("Members")
        expect(wrong).to_be_hidden()
        assert_accessible(page, "map page after errors")


def test_previews_are_never_enlarged_or_distorted(
    world: World, browser: Any, review: dict[str, str]
) -> None:
    for viewport in (None, PHONE):
        with watched_page(browser, world.url, viewport=viewport) as watched:
            page = watched.page
            page.goto(f"maps/{review['tall']}")
            img = page.get_by_role("img", name=re.compile("Preview of Small tiff"))
            img.wait_for()
            page.wait_for_function(
                "(img) => img.complete && img.naturalWidth > 0", arg=img.element_handle()
            )
            natural_w, natural_h, shown_w, shown_h, screen_h = img.evaluate(
                "(i) => [i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width,"
                " i.getBoundingClientRect().height, window.innerHeight]"
            )
            assert shown_w <= natural_w + 0.5 and shown_h <= natural_h + 0.5
            assert abs(shown_w / shown_h - natural_w / natural_h) < 0.02
            assert shown_h <= 0.7 * screen_h + 0.5


def test_hostile_titles_stay_in_their_boxes_and_are_isolated(
    world: World, browser: Any, review: dict[str, str]
) -> None:
    with watched_page(browser, world.url, viewport=PHONE) as watched:
        page = watched.page
        sign_in(page, world.member)
        page.goto(f"maps/{review['long']}")
        page.get_by_role("button", name="Delete", exact=True).click()
        dialog = page.get_by_role("dialog", name="Delete this map?")
        expect(dialog).to_be_visible()
        box = dialog.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        inner = dialog.evaluate("(d) => [d.scrollWidth, d.clientWidth]")
        assert inner[0] <= inner[1], inner
        dialog.get_by_role("button", name="Cancel").click()
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width

    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto(f"maps/{world.maps['tokyo']['id']}")
        expect(page.get_by_role("heading", name="Tokyo wards")).to_be_visible()
        header = page.locator(".site-header")
        plain = header.screenshot()
        page.goto(f"maps/{review['zalgo']}")
        expect(page.get_by_role("heading", level=1)).to_contain_text(review["word"])
        # The combining marks' tower stays in the title's line: the header is untouched.
        assert header.screenshot() == plain
        screenshot(page, "review-zalgo")
        page.goto(f"./?q={review['word']}")
        link = page.get_by_role("link", name=f"{HEBREW} {review['word']}")
        expect(link).to_be_visible()
        assert link.evaluate("(a) => getComputedStyle(a).direction") == "rtl"
        owner = card(page, f"{HEBREW} {review['word']}").locator(".card-facts bdi")
        expect(owner).to_have_text(world.member)
        # Each card's title stays inside its card.
        for item in page.locator(".map-card").all():
            outer, title = item.bounding_box(), item.locator(".card-title").bounding_box()
            assert outer and title and title["x"] + title["width"] <= outer["x"] + outer["width"]
        assert_accessible(page, "browse with hostile titles")


def test_facts_have_human_labels_units_and_status_texts(
    world: World, browser: Any, review: dict[str, str]
) -> None:
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto(f"maps/{review['tall']}")
        facts = page.locator(".facts")

        def fact(label: str) -> Any:
            return facts.locator(".fact", has=page.locator("dt", has_text=label))

        expect(fact("Resolution").locator("dd")).to_have_text(
            "0.00137 \u00d7 0.00066 \u00b0 per pixel"
        )
        expect(fact("Visibility").locator("dd")).to_have_text("Public")
        expect(fact("Bits per sample").locator("dd")).to_have_text("8")
        expect(fact("Size").locator("dd")).to_contain_text("KiB")
        labels = facts.locator("dt").all_inner_texts()
        for internal in ("dtype", "mask", "alpha", "bigtiff", "bits per sample"):
            assert internal not in labels, labels

        sign_in(page, world.member)
        page.goto(f"maps/{world.maps['waiting']['id']}")
        expect(fact("Format").locator("dd")).to_have_text("Format detected after processing")
        expect(fact("Size").locator("dd")).to_have_text("1.2 KiB")  # 1234 bytes
        page.goto(f"maps/{world.maps['broken']['id']}")
        expect(page.locator(".no-preview")).to_contain_text("rejected")
        page.goto("mine")
        expect(card(page, "Coming later")).to_contain_text("Format detected after processing")
        expect(card(page, "Coming later")).not_to_contain_text("Unknown")


def test_loading_states_replace_stale_content(
    world: World, browser: Any, review: dict[str, str]
) -> None:
    with watched_page(browser, world.url) as watched:
        page = watched.page
        held: list[Any] = []
        page.route(re.compile(r".*/v1/maps(\?.*)?$"), lambda route: held.append(route))
        page.goto(f"./?q={review['word']}")
        expect(page.locator(".count")).to_have_text("Loading maps…")
        expect(page.locator(".map-list")).to_have_attribute("aria-busy", "true")
        deadline = time.monotonic() + 10
        while not held and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        for route in held:
            route.continue_()
        page.unroute(re.compile(r".*/v1/maps(\?.*)?$"))
        expect(page.get_by_role("link", name=f"Old scan {review['word']}")).to_be_visible()
        expect(page.locator(".map-list")).not_to_have_attribute("aria-busy", "true")

        # A map's page: the old list goes at once, "Loading map…" stands until the API answers.
        one = re.compile(r".*/v1/maps/[0-9a-f-]+$")
        held.clear()
        page.route(one, lambda route: held.append(route))
        page.get_by_role("link", name=f"Old scan {review['word']}").click()
        expect(page.get_by_role("heading", name="Loading map…")).to_be_focused()
        expect(page.locator(".map-list")).to_have_count(0)
        for route in held:
            route.continue_()
        page.unroute(one)
        expect(page.get_by_role("heading", name=f"Old scan {review['word']}")).to_be_focused()
        expect(page.locator(".no-preview, .preview img")).to_have_count(1)


def test_the_browse_view_is_kept_in_the_url_across_reload_and_back(
    world: World, browser: Any, review: dict[str, str]
) -> None:
    zalgo_title = f"{ZALGO} {review['word']}"
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto(f"./?q={review['word']}")
        expect(page.get_by_role("link", name=f"Old scan {review['word']}")).to_be_visible()
        jump(page, 150.2, -29.8, 9)
        expect(page).to_have_url(re.compile(r"view=9\.00%2F-29\.8"))
        view = view_of(page.url)
        expect(page.locator(".count")).to_contain_text("in this view")
        expect(page.get_by_role("link", name=zalgo_title)).to_be_visible()
        expect(page.get_by_role("link", name=f"{HEBREW} {review['word']}")).to_have_count(0)
        page.reload()
        expect(page.locator(".count")).to_contain_text("in this view")
        expect(page.get_by_role("link", name=zalgo_title)).to_be_visible()
        expect(page.get_by_role("link", name=f"{HEBREW} {review['word']}")).to_have_count(0)
        assert page.evaluate("() => window.__mapstock.map.viewParam()") == view
        assert view_of(page.url) == view and f"q={review['word']}" in page.url
        page.get_by_role("link", name=zalgo_title).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(review["word"])
        page.go_back()
        expect(page.get_by_role("link", name=zalgo_title)).to_be_visible()
        expect(page.get_by_role("link", name=f"Old scan {review['word']}")).to_have_count(0)
        assert view_of(page.url) == view
        page.wait_for_function("() => window.__mapstock.map && window.__mapstock.map.map.loaded()")
        assert page.evaluate("() => window.__mapstock.map.viewParam()") == view


def test_attribution_toggle_shows_focus_and_download_count_updates(
    world: World, browser: Any, review: dict[str, str]
) -> None:
    with watched_page(browser, world.url) as watched:
        page = watched.page
        page.goto(f"./?q={review['word']}")
        toggle = page.locator(".maplibregl-ctrl-attrib-button")
        toggle.wait_for()
        page.locator(".maplibregl-ctrl-zoom-out").focus()
        for _ in range(5):
            if toggle.evaluate("(t) => document.activeElement === t"):
                break
            page.keyboard.press("Tab")
        outline = toggle.evaluate(
            "(t) => [getComputedStyle(t).outlineStyle, getComputedStyle(t).outlineWidth]"
        )
        assert outline == ["solid", "3px"], outline

        page.goto(f"maps/{review['tall']}")
        downloads = page.locator(".fact", has=page.locator("dt", has_text="Downloads")).locator(
            "dd"
        )
        before = int(downloads.inner_text())
        with page.expect_download():
            page.get_by_role("button", name="Download", exact=True).click()
        expect(downloads).to_have_text(str(before + 1))
