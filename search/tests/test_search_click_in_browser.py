"""In a real browser (headless Chromium driven by Playwright), opening a search result records its rank:
site.js sends the click as the link is followed, and the flush stores it under the search."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.models import Artwork
from conftest import wait_until
from search import log
from search.models_log import SearchClick
from search.tests.search_log import buffered, empty_buffer

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_click_on_a_result_is_recorded(
    page: Any, live_server: Any, indexed: list[Artwork], redis_client: Any
) -> None:
    empty_buffer(redis_client)
    page.goto(f"{live_server.url}/")
    page.locator("#q").press_sequentially("yellow chairs", delay=20)
    page.wait_for_selector("#results .card")
    page.wait_for_load_state("networkidle")
    page.locator("#q").blur()  # puts away the suggestions, which would cover the first cards
    second = page.locator("#results .result-link").nth(1)
    aic_id = int(second.get_attribute("data-aic-id"))
    assert second.get_attribute("data-rank") == "2"

    second.click()
    page.wait_for_url(f"**/artworks/{aic_id}")
    wait_until(lambda: any(item["kind"] == "click" for item in buffered(redis_client)), timeout=15)

    log.flush()
    click = SearchClick.objects.select_related("search").get()
    assert (click.aic_id, click.rank, click.search.query) == (aic_id, 2, "yellow chairs")
    assert click.search.source == "page"
