"""A running experiment interleaves the share of (visitor, query) first pages it names: none at 0,
every first page in relevance order of its modes at 1, and never a later page, another sort, another
mode, an API answer, or anything at all with SEARCH_INTERLEAVING off."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork
from search.experiments import VISITOR_COOKIE
from search.ranking import search
from search.tests.interleaving import running_experiment
from search.tests.search_log import buffered, empty_buffer, result_links

pytestmark = pytest.mark.django_db(transaction=True)

QUERIES = ["a bedroom with yellow chairs", "portrait of a woman", "river landscape", "still life with fruit"]


def _interleaved(redis_client: Any) -> list[bool]:
    """For each search buffered since the last call, whether its page was interleaved."""
    found = ["interleaving" in item for item in buffered(redis_client)]
    empty_buffer(redis_client)
    return found


def test_share_zero_interleaves_nothing(indexed: list[Artwork], redis_client: Any) -> None:
    empty_buffer(redis_client)
    running_experiment(share=0.0)
    client = Client()
    for query in QUERIES:
        html = client.get("/", {"q": query}).content.decode()
        production = [hit.artwork.aic_id for hit in search(query).hits]
        assert [aic_id for aic_id, _ in result_links(html)] == production
    assert _interleaved(redis_client) == [False] * len(QUERIES)


def test_share_one_interleaves_every_first_page_and_nothing_else(
    indexed: list[Artwork], redis_client: Any, settings: Any
) -> None:
    empty_buffer(redis_client)
    client = Client()
    client.get("/", {"q": QUERIES[0]})
    assert VISITOR_COOKIE not in client.cookies, "no experiment runs: no cookie"
    assert _interleaved(redis_client) == [False]

    running_experiment(share=1.0)
    for query in QUERIES:
        assert client.get("/", {"q": query}).status_code == 200
    assert _interleaved(redis_client) == [True] * len(QUERIES)
    assert VISITOR_COOKIE in client.cookies
    # Another visitor too: the share is every one of them.
    Client().get("/", {"q": QUERIES[1]})
    assert _interleaved(redis_client) == [True]

    settings.SEARCH_DEFAULT_K = 5
    client.get("/", {"q": QUERIES[0], "page": "2"})
    client.get("/", {"q": QUERIES[0], "sort": "date"})
    client.get("/", {"q": QUERIES[0], "mode": "keyword"})
    client.get("/", {"q": QUERIES[0], "mode": "semantic"})  # the experiment names hybrid only
    client.get("/api/search", {"q": QUERIES[0]})
    assert _interleaved(redis_client) == [False] * 5

    settings.SEARCH_INTERLEAVING = False
    fresh = Client()
    fresh.get("/", {"q": QUERIES[0]})
    assert _interleaved(redis_client) == [False]
    assert VISITOR_COOKIE not in fresh.cookies
