"""The search page's facet panel in a real browser: counts beside each value, a click narrows the
results (htmx), a second click on it widens them again; without JavaScript the links do the same."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.postgres.search import SearchQuery
from django.test import Client

from catalog.models import Artwork
from search.tests.conftest import SCREENSHOTS

pytestmark = pytest.mark.django_db(transaction=True)


def _card_ids(page: Any) -> set[int]:
    hrefs = page.locator("#results .card a.result-link").evaluate_all("links => links.map(l => l.getAttribute('href'))")
    return {int(href.rstrip("/").rsplit("/", 1)[1]) for href in hrefs}


def test_a_facet_value_narrows_the_results_and_shows_its_count(
    page: Any, live_server: Any, collection: list[Artwork]
) -> None:
    matches = Artwork.objects.filter(search_document=SearchQuery("painting", config="english"))
    assert matches.count() < 100  # one page holds every result
    france = {a.aic_id for a in matches.filter(place_of_origin="France")}
    page.goto(f"{live_server.url}/?q=painting&mode=keyword&page_size=100")
    panel = page.locator("nav.facets")
    link = panel.locator("section.facet:has(h2:text-is('Place of origin')) a", has_text="France")
    # Every embedded artwork is among the hundred nearest: the count is France's share of the images.
    assert link.locator(".count").inner_text() == str(len(france))
    everything = _card_ids(page)
    assert france < everything
    link.click()
    page.wait_for_selector("#results .chip:has-text('Place: France')")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SCREENSHOTS / "facet-place-france.png"), full_page=True)
    assert parse_qs(urlparse(page.url).query)["place"] == ["France"]
    assert _card_ids(page) == france
    picked = page.locator("nav.facets a.picked", has_text="France")
    assert picked.count() == 1
    # The search box's form keeps the picked value: typing searches within France still.
    page.locator("#q").fill("painting of people")
    page.wait_for_function("() => document.querySelector('#results .summary')?.innerText.includes('people')")
    page.wait_for_load_state("networkidle")
    assert _card_ids(page) <= france
    assert parse_qs(urlparse(page.url).query)["place"] == ["France"]
    page.locator("#q").fill("painting")
    page.wait_for_function("() => document.querySelector('#results .summary')?.innerText.includes('“painting”')")
    page.wait_for_load_state("networkidle")
    page.locator("nav.facets a.picked", has_text="France").click()
    page.wait_for_function("() => !document.querySelector('#results .chip')")
    page.wait_for_load_state("networkidle")
    assert _card_ids(page) == everything


def test_the_panel_is_plain_links_without_javascript(client: Client, collection: list[Artwork]) -> None:
    response = client.get("/", {"q": "painting", "mode": "keyword", "department": "Painting and Sculpture of Europe"})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<nav class="facets"' in html
    # The picked department links to the page without it; another value links to it, from page 1.
    assert 'class="picked" aria-current="true"' in html
    assert 'href="/?q=painting&amp;mode=keyword&amp;place=France"' not in html
    assert "department=Painting+and+Sculpture+of+Europe&amp;place=France" in html
