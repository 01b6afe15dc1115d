"""Facet counts: each field's values among the artworks that answer the query, as counted by hand."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.contrib.postgres.search import SearchQuery
from django.test import Client

from catalog.models import Artwork
from search.facets import FACET_VALUES, facet_counts
from search.filters import SearchFilters
from search.ranking import search
from search.types import Mode

pytestmark = pytest.mark.django_db(transaction=True)

EUROPE = "Painting and Sculpture of Europe"


def _centuries(artwork: Artwork) -> list[int]:
    low = artwork.date_start if artwork.date_start is not None else artwork.date_end
    high = artwork.date_end if artwork.date_end is not None else artwork.date_start
    if low is None or high is None:
        return []
    return [century * 100 for century in range(low // 100, high // 100 + 1)]


def _values(artwork: Artwork) -> dict[str, list[Any]]:
    """Each facet's values of one artwork, read from the model."""
    return {
        "department": [artwork.department_title] if artwork.department_title else [],
        "artwork_type": [artwork.artwork_type_title] if artwork.artwork_type_title else [],
        "classification": list(artwork.classification_titles),
        "artist": [artwork.artist_title] if artwork.artist_title else [],
        "style": list(artwork.style_titles),
        "subject": list(artwork.subject_titles),
        "place": [artwork.place_of_origin] if artwork.place_of_origin else [],
        "century": _centuries(artwork),
        "is_public_domain": [artwork.is_public_domain],
        "is_on_view": [artwork.is_on_view],
        "has_image": [bool(artwork.image_id)],
    }


def _hand_counts(artworks: Iterable[Artwork], facet: str) -> Counter[Any]:
    return Counter(value for artwork in artworks for value in _values(artwork)[facet])


def _assert_counts(listed: list[dict[str, Any]], expected: Counter[Any], picked: Iterable[Any] = ()) -> None:
    """``listed`` holds the most frequent values with their hand counts (and any picked ones)."""
    shown = {item["value"]: item["count"] for item in listed}
    assert len(listed) == len(shown), "a value listed twice"
    assert all(shown[value] == expected[value] for value in shown), (shown, expected)
    assert len(shown) >= min(FACET_VALUES, len(expected))
    least = min(shown.values(), default=0)
    assert all(count <= least for value, count in expected.items() if value not in shown)
    assert set(picked) <= set(shown)


def _facets(client: Client, **params: Any) -> dict[str, list[dict[str, Any]]]:
    response = client.get("/api/search", params)
    assert response.status_code == 200, response.content
    facets: dict[str, list[dict[str, Any]]] = response.json()["facets"]
    return facets


def _text_matches(word: str) -> list[Artwork]:
    return list(Artwork.objects.filter(search_document=SearchQuery(word, config="english")))


def test_keyword_facets_count_every_artwork_holding_the_words(client: Client, collection: list[Artwork]) -> None:
    matches = _text_matches("painting")
    assert len(matches) > 10
    facets = _facets(client, q="painting", mode="keyword")
    assert set(facets) == set(_values(matches[0]))
    for name, listed in facets.items():
        _assert_counts(listed, _hand_counts(matches, name))
    assert {item["value"]: item["count"] for item in facets["department"]}[EUROPE] == 7


def test_a_filter_narrows_the_other_facets_but_not_its_own(client: Client, collection: list[Artwork]) -> None:
    matches = _text_matches("painting")
    facets = _facets(client, q="painting", mode="keyword", department=EUROPE.lower())
    european = [artwork for artwork in matches if artwork.department_title == EUROPE]
    # Its own facet still counts every department, so a visitor can see what another would add.
    _assert_counts(facets["department"], _hand_counts(matches, "department"), picked=[EUROPE])
    for name in ("artwork_type", "classification", "place", "century", "is_on_view", "has_image"):
        _assert_counts(facets[name], _hand_counts(european, name))
    assert sum(item["count"] for item in facets["has_image"]) == len(european)


def test_value_filters_apply_to_each_other_facet(client: Client, collection: list[Artwork]) -> None:
    matches = _text_matches("painting")
    facets = _facets(client, q="painting", mode="keyword", place=["France", "Netherlands"], classification="painting")
    in_places = [artwork for artwork in matches if artwork.place_of_origin in {"France", "Netherlands"}]
    paintings = [artwork for artwork in matches if "painting" in artwork.classification_titles]
    both = [artwork for artwork in in_places if artwork in paintings]
    assert both and len(both) < len(matches)
    _assert_counts(facets["place"], _hand_counts(paintings, "place"), picked=["France", "Netherlands"])
    _assert_counts(facets["classification"], _hand_counts(in_places, "classification"), picked=["painting"])
    _assert_counts(facets["department"], _hand_counts(both, "department"))
    _assert_counts(facets["subject"], _hand_counts(both, "subject"))


def test_semantic_facets_count_the_nearest_candidates(client: Client, collection: list[Artwork], settings: Any) -> None:
    settings.SEARCH_HYBRID_CANDIDATES = 1000  # more than the sample's images: every one is a candidate
    with_image = [artwork for artwork in collection if artwork.image_id]
    facets = _facets(client, q="a quiet landscape", mode="semantic", is_on_view="true")
    on_view = [artwork for artwork in with_image if artwork.is_on_view]
    for name in ("department", "style", "century", "is_public_domain", "has_image"):
        _assert_counts(facets[name], _hand_counts(on_view, name))
    hybrid = _facets(client, q="painting", mode="hybrid")
    either = {artwork.pk: artwork for artwork in [*with_image, *_text_matches("painting")]}.values()
    for name in ("department", "subject", "has_image"):
        _assert_counts(hybrid[name], _hand_counts(either, name))


def test_semantic_facets_stop_at_the_candidates(client: Client, collection: list[Artwork], settings: Any) -> None:
    settings.SEARCH_HYBRID_CANDIDATES = 24
    facets = _facets(client, q="a quiet landscape", mode="semantic")
    assert sum(item["count"] for item in facets["has_image"]) == 24


@pytest.mark.parametrize("mode", [Mode.KEYWORD, Mode.SEMANTIC, Mode.HYBRID])
def test_the_counts_take_at_most_two_queries(
    collection: list[Artwork], record_statements: Callable[[], list[str]], mode: Mode
) -> None:
    filters = SearchFilters(department=EUROPE, subject=("women", "animals"), is_public_domain=True)
    page = search("portrait of a woman", mode=mode, filters=filters)  # as the API runs it, first
    run = record_statements()
    facets = facet_counts("portrait of a woman", mode, filters, page.model, page.nearest)
    assert 1 <= len(run) <= 2, run
    assert facets["department"], "nothing was counted"
