"""With SEARCH_LOG off nothing is written anywhere: no buffered item in Redis, no row, no search id on
the page; a flush empties what an earlier setting left buffered instead of storing it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork
from search import log
from search.models_log import SearchClick, SearchLogEntry
from search.tests.search_log import csrf_token_of, empty_buffer

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_off_switch_writes_nothing(indexed: list[Artwork], redis_client: Any, settings: Any) -> None:
    empty_buffer(redis_client)
    settings.SEARCH_LOG = False
    client = Client(enforce_csrf_checks=True)
    page = client.get("/", {"q": "a bedroom with yellow chairs"})
    fragment = client.get("/", {"q": "yellow chairs"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    answer = client.get("/api/search", {"q": "a stormy sea"})
    assert page.status_code == fragment.status_code == answer.status_code == 200
    html = page.content.decode()
    assert 'class="card"' in html
    assert "data-search-id" not in html and "data-rank" not in html
    assert "data-search-id" not in fragment.content.decode()
    click = {"s": uuid.uuid4().hex, "a": "1", "r": "1", "csrfmiddlewaretoken": csrf_token_of(html)}
    assert client.post("/search/click", click).status_code == 204

    assert redis_client.llen(log.BUFFER_KEY) == 0
    assert redis_client.exists(log.FLUSHING_KEY) == 0
    assert log.flush().searches == 0
    assert SearchLogEntry.objects.count() == 0 and SearchClick.objects.count() == 0


def test_a_flush_while_off_drops_what_was_buffered(db: None, redis_client: Any, settings: Any) -> None:
    empty_buffer(redis_client)
    assert log.record_search("left over", "hybrid", {}, 3, 1, log.PAGE)
    settings.SEARCH_LOG = False
    assert log.flush().dropped == 1
    assert redis_client.llen(log.BUFFER_KEY) == 0
    assert SearchLogEntry.objects.count() == 0
