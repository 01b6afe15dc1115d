"""Opening a result records its search, artwork and rank: the page numbers its links from the first
result of the first page, and the click endpoint takes a click only with the page's CSRF token."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork
from search import log
from search.models_log import SearchClick, SearchLogEntry
from search.tests.search_log import buffered, csrf_token_of, empty_buffer, result_links, search_id_of

pytestmark = pytest.mark.django_db(transaction=True)

QUERY = "a bedroom with yellow chairs"


def test_a_click_records_the_rank_of_the_result_opened(indexed: list[Artwork], redis_client: Any) -> None:
    empty_buffer(redis_client)
    client = Client(enforce_csrf_checks=True)
    html = client.get("/", {"q": QUERY}).content.decode()
    search_id, token, links = search_id_of(html), csrf_token_of(html), result_links(html)
    assert [rank for _, rank in links] == list(range(1, len(links) + 1))
    aic_id, rank = links[2]

    click = {"s": search_id, "a": str(aic_id), "r": str(rank)}
    assert client.post("/search/click", click).status_code == 403  # no CSRF token
    assert client.post("/search/click", {**click, "s": "not-an-id", "csrfmiddlewaretoken": token}).status_code == 400
    assert client.post("/search/click", {**click, "csrfmiddlewaretoken": token}).status_code == 204
    # A click naming a search that was never logged is dropped when stored.
    stray = {**click, "s": uuid.uuid4().hex, "csrfmiddlewaretoken": token}
    assert client.post("/search/click", stray).status_code == 204
    assert [item["kind"] for item in buffered(redis_client)] == ["search", "click", "click"]

    newest_first = redis_client.lrange(log.BUFFER_KEY, 0, -1)
    counts = log.flush()
    assert (counts.searches, counts.clicks, counts.dropped) == (1, 1, 1)
    stored = SearchClick.objects.get()
    assert (stored.search.search_id.hex, stored.aic_id, stored.rank) == (search_id, aic_id, 3)
    assert stored.search.query == QUERY

    # The same batch stored again (a redelivered flush) adds nothing.
    log.store(reversed(newest_first))
    assert SearchLogEntry.objects.count() == 1 and SearchClick.objects.count() == 1


def test_a_later_page_numbers_its_results_after_the_first_pages(
    indexed: list[Artwork], redis_client: Any, settings: Any
) -> None:
    empty_buffer(redis_client)
    settings.SEARCH_DEFAULT_K = 10
    html = Client().get("/", {"q": QUERY, "page": "2"}).content.decode()
    assert [rank for _, rank in result_links(html)] == list(range(11, 21))
