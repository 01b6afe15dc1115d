"""In Chromium, with JavaScript and without: a visitor ticks "Choose" on several results and asks for
more like them; the page lists the artworks the API ranks nearest to their mean image."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)


def _card_ids(html: str) -> list[str]:
    return re.findall(r'class="result-link" href="/artworks/(\d+)"', html)


def _shown(page: Any) -> list[int]:
    links = page.locator("#results .card a.result-link")
    return [int(str(links.nth(i).get_attribute("href")).rsplit("/", 1)[1]) for i in range(links.count())]


@pytest.mark.parametrize("javascript", [True, False])
def test_more_like_the_chosen_results(
    browser: Any, live_server: Any, indexed: list[Artwork], settings: Any, javascript: bool
) -> None:
    settings.SEARCH_DEFAULT_K = 12
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/?q=a%20painting&mode=semantic")
        page.wait_for_selector("#results .card")
        listed = _shown(page)
        chosen = [listed[0], listed[2]]
        for aic_id in chosen:
            page.check(f"#results .card input[name=ids][value='{aic_id}']")
        page.click("button:has-text('More like the chosen artworks')")
        page.wait_for_url("**/artworks/similar?**")
        page.wait_for_selector("#results .card")
        assert parse_qs(urlparse(page.url).query)["ids"] == [str(aic_id) for aic_id in chosen]
        summary = page.locator("#results .summary").inner_text()
        titles = {artwork.aic_id: artwork.title for artwork in indexed}
        assert summary.startswith("More like") and all(titles[aic_id] in summary for aic_id in chosen)
        ids = ",".join(str(aic_id) for aic_id in chosen)
        expected = Client().get("/api/artworks/similar", {"ids": ids, "page_size": 12}).json()["results"]
        assert _shown(page) == [hit["id"] for hit in expected]
        assert not set(chosen) & set(_shown(page))
    finally:
        context.close()


def test_nothing_chosen_says_what_to_do(client: Client, indexed: list[Artwork]) -> None:
    response = client.get("/artworks/similar", {"ids": ""})
    assert response.status_code == 400
    assert "Choose one or more artworks first." in response.content.decode()
    repeated = client.get(f"/artworks/similar?ids={indexed[1].aic_id}&ids={indexed[4].aic_id}")
    listed = client.get("/artworks/similar", {"ids": f"{indexed[1].aic_id},{indexed[4].aic_id}"})
    assert repeated.status_code == listed.status_code == 200
    assert _card_ids(repeated.content.decode()) == _card_ids(listed.content.decode())
    assert len(_card_ids(listed.content.decode())) > 1
