"""As results change in place, assistive technology hears a short summary ("24 results for “sea”")
from one live region that stays in the page, not the whole grid of results."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)

# Every element that assistive technology reads out as it changes.
LIVE_REGIONS = """() => Array.from(document.querySelectorAll(
    "[aria-live], [role=status], [role=alert], [role=log], [role=marquee], [role=timer], output"
)).map(el => el.id || el.className)"""


def _status(page: Any) -> str:
    return str(page.locator("#search-status").text_content()).strip()


def _search(page: Any, query: str) -> None:
    with page.expect_response(lambda response: "q=" in response.url and response.request.headers.get("hx-request")):
        page.locator("#q").fill(query)
    page.wait_for_load_state("networkidle")


def _choose_mode(page: Any, mode: str) -> None:
    with page.expect_response(lambda response: f"mode={mode}" in response.url):
        page.select_option("select[name=mode]", mode)
    page.wait_for_load_state("networkidle")


def test_the_live_region_says_the_summary(page: Any, live_server: Any, indexed: list[Artwork]) -> None:
    page.goto(f"{live_server.url}/")
    assert page.evaluate(LIVE_REGIONS) == ["search-status"]
    assert _status(page) == ""
    page.evaluate("() => { window.statusRegion = document.getElementById('search-status'); }")

    _search(page, "sea")
    cards = page.locator("#results .card").count()
    assert cards > 1
    assert _status(page) == f"{cards} results for “sea”"
    # The grid itself is not live: only the summary is read out.
    assert page.evaluate(LIVE_REGIONS) == ["search-status"]
    assert page.locator("#results").get_attribute("aria-live") is None

    # The next page says which page it is; the region is the one that was there from the start
    # (a region added with its text is often not read at all).
    with page.expect_response(lambda response: "page=2" in response.url):
        page.locator("#results a[rel=next]").click()
    page.wait_for_load_state("networkidle")
    rest = page.locator("#results .card").count()
    assert _status(page) == f"{rest} result{'s' if rest > 1 else ''} for “sea”, page 2"
    assert page.evaluate("() => document.getElementById('search-status') === window.statusRegion")

    _choose_mode(page, "keyword")  # hybrid and semantic mode always find the nearest artworks
    _search(page, "zqxvj wplkt")
    assert page.locator("#results .card").count() == 0
    assert _status(page) == "No artworks found for “zqxvj wplkt”"
    assert page.evaluate("() => document.getElementById('search-status') === window.statusRegion")
