"""Hybrid facet counts count the vector list the ranking read, instead of walking the index again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.postgres.search import SearchQuery

from catalog.models import Artwork
from search.facets import facet_counts
from search.filters import SearchFilters
from search.query_cache import embed_query
from search.ranking import search
from search.types import Mode
from search.vector import vector_neighbours

pytestmark = pytest.mark.django_db(transaction=True)

QUERY = "a quiet landscape with trees"


def test_the_page_carries_the_nearest_and_the_counts_match_a_walk(
    collection: list[Artwork], settings: Any, record_statements: Callable[[], list[str]]
) -> None:
    settings.SEARCH_HYBRID_CANDIDATES = 24  # fewer than the sample's images: which 24 matters
    filters = SearchFilters(is_public_domain=True)
    page = search(QUERY, mode=Mode.HYBRID, filters=filters)
    assert page.model is not None and page.nearest is not None
    walked = vector_neighbours(page.model, embed_query(page.model, QUERY), 24, filters=filters)
    assert set(page.nearest) == {artwork.pk for artwork, _ in walked}
    assert len(page.nearest) == len(walked) == 24

    walked_counts = facet_counts(QUERY, Mode.HYBRID, filters, page.model)
    run = record_statements()
    given_counts = facet_counts(QUERY, Mode.HYBRID, filters, page.model, page.nearest)
    assert given_counts == walked_counts
    assert sum(int(item["count"]) for item in given_counts["has_image"]) > 0
    assert not any("<=>" in statement for statement in run), "the counts walked the index again"


def test_a_picked_value_counts_the_rankings_nearest_and_its_own_facet_from_the_words(
    collection: list[Artwork], settings: Any, record_statements: Callable[[], list[str]]
) -> None:
    settings.SEARCH_HYBRID_CANDIDATES = 24
    filters = SearchFilters(place=("France",))
    page = search("painting", mode=Mode.HYBRID, filters=filters)
    assert page.model is not None and page.nearest is not None
    run = record_statements()
    given = facet_counts("painting", Mode.HYBRID, filters, page.model, page.nearest)
    assert not any("<=>" in statement for statement in run), "the counts walked the index"
    # The other facets count the text matches from France and the ranking's nearest (all from France).
    words = set(
        Artwork.objects.filter(search_document=SearchQuery("painting", config="english"))
        .filter(place_of_origin__iexact="France", is_hidden=False, withdrawn_at__isnull=True)
        .values_list("pk", flat=True)
    )
    from_france = words | set(page.nearest)
    assert Artwork.objects.filter(pk__in=page.nearest).exclude(place_of_origin__iexact="France").count() == 0
    assert sum(int(item["count"]) for item in given["has_image"]) == len(from_france)
    # The place facet counts the text matches from every place.
    places = {item["value"] for item in given["place"]}
    assert "France" in places and len(places) > 1, places


def test_keyword_and_semantic_pages_carry_no_list(collection: list[Artwork]) -> None:
    assert search(QUERY, mode=Mode.KEYWORD).nearest is None
    assert search(QUERY, mode=Mode.SEMANTIC).nearest is None
