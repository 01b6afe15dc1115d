"""In Chromium, against a live server that enforces CSRF: an uploaded image's search pages and takes
words and filters by its token, with JavaScript (htmx) and without; the image is sent once."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork
from conftest import SAMPLE_DIR

pytestmark = pytest.mark.django_db(transaction=True)

PAGE_SIZE = 10


def _shown(page: Any) -> list[int]:
    links = page.locator("#results .card a.result-link")
    return [int(str(links.nth(i).get_attribute("href")).rsplit("/", 1)[1]) for i in range(links.count())]


def _expected(artwork: Artwork, query: str = "") -> list[int]:
    """The long search, asked of the API by the test client: the order the pages must cut."""
    with (SAMPLE_DIR / "images" / f"{artwork.image_id}.jpg").open("rb") as image:
        body = Client().post(f"/api/search/image?page_size=100&q={query}", {"image": image}).json()
    return [hit["id"] for hit in body["results"]]


def _upload(page: Any, artwork: Artwork) -> None:
    page.click("summary:has-text('Search by image')")
    page.set_input_files("input[name=image]", str(SAMPLE_DIR / "images" / f"{artwork.image_id}.jpg"))


@pytest.mark.parametrize("javascript", [True, False])
def test_a_visitor_pages_and_refines_an_uploaded_image_search(
    browser: Any, live_server: Any, indexed: list[Artwork], settings: Any, redis_client: Any, javascript: bool
) -> None:
    settings.SEARCH_DEFAULT_K = PAGE_SIZE
    artwork = indexed[3]
    expected = _expected(artwork)
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 1280, "height": 900})
    uploads: list[str] = []
    context.on("request", lambda request: uploads.append(request.url) if request.method == "POST" else None)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/")
        _upload(page, artwork)
        with page.expect_response(lambda response: response.url.endswith("/search/image")) as answer:
            page.click("button:has-text('Find similar artworks')")
        assert answer.value.status == 200  # the form's CSRF token was taken
        page.wait_for_selector("#results .card")
        assert _shown(page) == expected[:PAGE_SIZE]

        with page.expect_response(lambda response: "token=" in response.url and "page=2" in response.url) as answer:
            page.click("#results a[rel=next]")
        assert answer.value.status == 200
        page.wait_for_selector("#results .summary:has-text('11\u201320')")
        assert _shown(page) == expected[PAGE_SIZE : 2 * PAGE_SIZE]
        assert "token=" in page.url and "page=2" in page.url

        page.fill("#results .image-refine input[name=q]", "in winter")
        with page.expect_response(lambda response: "winter" in response.url) as answer:
            page.click("button:has-text('Update the image search')")
        assert answer.value.status == 200
        page.wait_for_selector("#results .summary:has-text('in winter')")
        assert _shown(page) == _expected(artwork, "in+winter")[:PAGE_SIZE]
        assert len(uploads) == 1, uploads  # paging and refining sent no image
    finally:
        context.close()
