"""The search site in a real browser (headless Chromium driven by Playwright).

Type a query and see results, move through them with the keyboard, apply and remove a filter,
page on, open an artwork's page, read the API docs. Each step leaves a screenshot in
var/screenshots/ (or SCREENSHOT_DIR) for a person to look at.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from catalog.models import Artwork
from search.tests.conftest import SCREENSHOTS

pytestmark = pytest.mark.django_db(transaction=True)

EUROPE = "Painting and Sculpture of Europe"


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def _card_ids(page: Any) -> list[int]:
    hrefs = page.locator("#results .card a.result-link").evaluate_all("links => links.map(l => l.getAttribute('href'))")
    return [int(href.rstrip("/").rsplit("/", 1)[1]) for href in hrefs]


def test_a_visitor_searches_filters_and_opens_an_artwork(
    page: Any, live_server: Any, collection: list[Artwork]
) -> None:
    searches: list[str] = []
    page.on(
        "request",
        lambda request: searches.append(request.url) if "q=" in request.url and "/suggest" not in request.url else None,
    )
    page.goto(f"{live_server.url}/")
    _shot(page, "01-search-page.png")

    # Results arrive as you type, after a pause (debounced: one request, not one per key).
    page.locator("#q").press_sequentially("Monet water lilies", delay=40)
    page.wait_for_selector("#results .card")
    page.wait_for_load_state("networkidle")
    assert len(searches) <= 2
    assert parse_qs(urlparse(page.url).query)["q"] == ["Monet water lilies"]
    titles = page.locator("#results .card .title").all_inner_texts()
    assert "Water Lilies" in titles
    assert page.locator("#results .summary").inner_text().startswith("Results 1\u201324")
    _shot(page, "02-results.png")

    # Keyboard: down into the grid, right along it, Escape back to the box. (Down walks the suggestions
    # while they are open: leaving the box puts them away.)
    page.locator("#q").blur()
    page.locator("#q").press("ArrowDown")
    first_href = page.locator("#results .result-link").nth(0).get_attribute("href")
    assert page.evaluate("document.activeElement.getAttribute('href')") == first_href
    page.keyboard.press("ArrowRight")
    second_href = page.locator("#results .result-link").nth(1).get_attribute("href")
    assert page.evaluate("document.activeElement.getAttribute('href')") == second_href
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") == "q"

    # A filter narrows the results in place and shows as a chip.
    page.select_option("select[name=department]", EUROPE)
    page.wait_for_selector(f"#results .chip:has-text('Department: {EUROPE}')")
    page.wait_for_load_state("networkidle")
    europe = set(Artwork.objects.filter(department_title=EUROPE).values_list("aic_id", flat=True))
    filtered = _card_ids(page)
    assert filtered and set(filtered) <= europe
    assert parse_qs(urlparse(page.url).query)["department"] == [EUROPE]
    _shot(page, "03-filtered.png")

    # Removing the chip brings everything back, and the menu with it.
    page.locator("#results .chip").click()
    # A function, not an expression: Playwright evaluates an expression with eval, which the CSP refuses.
    page.wait_for_function("() => document.querySelectorAll('#results .card').length > 20")
    assert page.locator("select[name=department]").input_value() == ""
    assert page.locator("#results .chip").count() == 0

    # The next page carries on from the first.
    first_page = _card_ids(page)
    page.locator("#results a[rel=next]").click()
    page.wait_for_selector("#results .summary:has-text('Results 25\u2013')")
    assert not set(_card_ids(page)) & set(first_page)
    assert "page=2" in page.url

    # An artwork's page: the full record, the IIIF zoom link, similar artworks, the credit line.
    page.locator("#q").fill("")
    page.locator("#q").press_sequentially("water lilies", delay=20)
    page.wait_for_function("() => document.querySelector('#results .summary')?.innerText.includes('water lilies')")
    page.locator("#q").blur()  # puts away the suggestions, which would cover the first cards
    page.locator("#results .card a.result-link", has_text="Water Lilies").click()
    page.wait_for_url("**/artworks/16568")
    assert page.locator("h1").inner_text() == "Water Lilies"
    assert page.locator("a.zoom-link").get_attribute("href").endswith("/full/1686,/0/default.jpg")
    assert page.locator(".similar .card").count() == 12
    assert "CC0" in page.locator(".artwork-record").inner_text()
    page.wait_for_load_state("networkidle")
    _shot(page, "04-artwork.png")


def test_the_api_docs_render_without_a_network(page: Any, live_server: Any, db: None) -> None:
    outside: list[str] = []
    page.on(
        "request",
        lambda request: outside.append(request.url) if not request.url.startswith(live_server.url) else None,
    )
    page.goto(f"{live_server.url}/api/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/search" in paths and "/api/search/image" in paths
    assert outside == []
    _shot(page, "05-api-docs.png")


def test_a_curator_opens_the_jobs_dashboard(
    page: Any, live_server: Any, indexed: list[Artwork], admin_user: Any
) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/jobs/")
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/jobs/")
    assert page.locator(".count-done").nth(1).inner_text() == str(len(indexed))
    assert page.locator("#harvest-state").inner_text() == "scheduled"
    page.click("button[value=pause]")
    page.wait_for_selector("#harvest-state.jobs-paused")
    _shot(page, "06-jobs-dashboard.png")
