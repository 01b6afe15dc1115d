"""Every kind of page a visitor meets, opened one after another in a browser for a test to inspect."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from django.utils import timezone

from catalog.models import Artwork
from conftest import SAMPLE_DIR

NO_MATCH = "zqxvj wplkt"


def tour(page: Any, base_url: str, artworks: list[Artwork], settings: Any, redis_client: Any) -> Iterator[str]:
    """Open each page in turn on ``page``, yielding its name once it is shown; the last leaves the
    visitor over the search budget."""
    query = artworks[0].title.split()[0]
    pages: list[tuple[str, Callable[[], None]]] = [
        ("search-empty", lambda: _open(page, f"{base_url}/")),
        *[
            (f"results-{mode}", lambda mode=mode: _open(page, f"{base_url}/?q={quote(query)}&mode={mode}", ".card"))
            for mode in ("hybrid", "keyword", "semantic")
        ],
        ("no-results", lambda: _open(page, f"{base_url}/?q={quote(NO_MATCH)}&mode=keyword")),
        ("image-results", lambda: _image_results(page, base_url, artworks[3])),
        (
            "more-like-these",
            lambda: _open(
                page, f"{base_url}/artworks/similar?ids={artworks[1].aic_id}&ids={artworks[4].aic_id}", ".card"
            ),
        ),
        ("artwork", lambda: _open(page, f"{base_url}/artworks/{artworks[1].aic_id}", "h1")),
        ("withdrawn", lambda: _withdrawn(page, base_url, artworks[2])),
        ("api-docs", lambda: _open(page, f"{base_url}/api/docs", ".swagger-ui .info")),
        ("too-many-searches", lambda: _too_many(page, base_url, settings, redis_client)),
    ]
    for name, show in pages:
        show()
        yield name


def _open(page: Any, url: str, selector: str = "main") -> None:
    page.goto(url)
    page.wait_for_selector(selector)
    page.wait_for_load_state("networkidle")


def _image_results(page: Any, base_url: str, artwork: Artwork) -> None:
    """An uploaded image's results, refined by words: the page an image search leaves."""
    _open(page, f"{base_url}/")
    page.click("summary:has-text('Search by image')")
    page.set_input_files("input[name=image]", str(SAMPLE_DIR / "images" / f"{artwork.image_id}.jpg"))
    page.fill(".image-search input[name=q]", "in winter")
    page.click("button:has-text('Find similar artworks')")
    page.wait_for_selector("#results .card")
    page.wait_for_selector("form.image-refine")
    page.wait_for_load_state("networkidle")


def _withdrawn(page: Any, base_url: str, artwork: Artwork) -> None:
    Artwork.objects.filter(pk=artwork.pk).update(withdrawn_at=timezone.now())
    response = page.goto(f"{base_url}/artworks/{artwork.aic_id}")
    assert response.status == 410


def _too_many(page: Any, base_url: str, settings: Any, redis_client: Any) -> None:
    settings.RATE_LIMIT_BUDGET = 15  # one fresh search, then none
    for key in redis_client.scan_iter("ratelimit:*"):
        redis_client.delete(key)
    statuses = [page.goto(f"{base_url}/?q={quote(f'storm {n}')}").status for n in range(3)]
    assert statuses[-1] == 429, statuses
    page.wait_for_load_state("networkidle")
