"""A query whose words match many artworks counts the first SEARCH_FACET_TEXT_MATCHES of them, says
so in the API (``facets_complete``) and on the page, and still counts a picked value's own facet over
the matches without that filter."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)

WORD = "painting"


def _search(client: Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/search", {"q": WORD, "mode": "keyword", **params})
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def _total(facet: list[dict[str, Any]]) -> int:
    return sum(int(item["count"]) for item in facet)


def test_the_counts_stop_at_the_limit_and_say_so(client: Client, collection: list[Artwork], settings: Any) -> None:
    whole = _search(client)
    matches = _total(whole["facets"]["has_image"])
    assert whole["facets_complete"] is True and matches > 12, matches

    settings.SEARCH_FACET_TEXT_MATCHES = 12
    capped = _search(client)
    assert capped["facets_complete"] is False
    assert _total(capped["facets"]["has_image"]) == 12
    assert _total(capped["facets"]["is_public_domain"]) == 12
    assert capped["results"] == whole["results"]  # the ranking is not capped

    settings.SEARCH_FACET_TEXT_MATCHES = matches + 1
    assert _search(client)["facets_complete"] is True


def test_a_picked_value_counts_its_own_facet_without_its_filter(
    client: Client, collection: list[Artwork], settings: Any
) -> None:
    place = _search(client)["facets"]["place"][0]["value"]
    from_there = _total(_search(client, place=place)["facets"]["has_image"])
    settings.SEARCH_FACET_TEXT_MATCHES = 12
    narrowed = _search(client, place=place)
    assert narrowed["facets_complete"] is False  # the place facet read the first 12 of every place
    # Every other facet counts the first 12 matches from that place (all of them, if fewer).
    assert _total(narrowed["facets"]["has_image"]) == min(12, from_there)
    places = narrowed["facets"]["place"]
    assert len(places) > 1 and places[0]["value"] == place
    assert _total(places) <= 12


def test_the_page_says_the_counts_are_of_the_first_matches(
    client: Client, collection: list[Artwork], settings: Any
) -> None:
    settings.SEARCH_FACET_TEXT_MATCHES = 12
    html = client.get("/", {"q": WORD, "mode": "keyword"}).content.decode()
    assert "Counts of the first 12 artworks whose words match" in html
    settings.SEARCH_FACET_TEXT_MATCHES = 2000
    html = client.get("/", {"q": WORD, "mode": "keyword"}).content.decode()
    assert "Counts of the first" not in html and '<nav class="facets"' in html
