"""An interleaved page is never stored in the result cache, so no one else, and no API client, is
answered with it as if it were production's ranking."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork
from search.experiments import VISITOR_COOKIE
from search.query_cache import cache_client
from search.ranking import search
from search.tests.interleaving import expected_page, running_experiment
from search.tests.search_log import buffered, empty_buffer, result_links

pytestmark = pytest.mark.django_db(transaction=True)

QUERY = "a bedroom with yellow chairs"
RESULT_KEYS = "museum:search-result:*"


def test_an_interleaved_page_is_not_stored_in_the_result_cache(
    indexed: list[Artwork], redis_client: Any, settings: Any
) -> None:
    settings.SEARCH_RESULT_CACHE_SECONDS = 300
    cache = cache_client()
    for key in cache.scan_iter(RESULT_KEYS):
        cache.delete(key)
    empty_buffer(redis_client)
    # A candidate by the pictures alone: production's tuned weights lean on the words.
    experiment = running_experiment(share=1.0, candidate_keyword_weight=0.0, candidate_semantic_weight=1.0)
    production = [hit.artwork.aic_id for hit in search(QUERY).hits]

    # A visitor whose interleaved page differs from production's (most do; find one that surely does).
    for number in range(50):
        visitor = f"{number:032x}"
        interleaved = [hit.artwork.aic_id for hit in expected_page(experiment, visitor, QUERY).items]
        if interleaved != production:
            break
    else:
        pytest.fail("every visitor's interleaved page equals production's: the candidate ranks the same")
    client = Client()
    client.cookies[VISITOR_COOKIE] = visitor
    html = client.get("/", {"q": QUERY}).content.decode()
    assert [aic_id for aic_id, _ in result_links(html)] == interleaved
    assert "interleaving" in buffered(redis_client)[-1]
    assert list(cache.scan_iter(RESULT_KEYS)) == []

    # The API answers production's ranking, and that is what it caches and answers again.
    for _ in range(2):
        answer = client.get("/api/search", {"q": QUERY}).json()
        assert [hit["id"] for hit in answer["results"]] == production
    assert len(list(cache.scan_iter(RESULT_KEYS))) == 1
