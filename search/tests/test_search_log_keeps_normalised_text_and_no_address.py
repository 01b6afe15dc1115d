"""A search, from the page, its htmx fragment or the API, is logged with its text normalised and nothing
that names the visitor: the worker's flush stores what the request buffered, and no row or buffered item
holds the client's address, the address a proxy forwarded or the user agent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.forms.models import model_to_dict
from django.test import Client

from catalog.models import Artwork
from conftest import wait_until
from search import log
from search.models_log import SearchLogEntry
from search.tasks import flush_search_log_task
from search.tests.search_log import buffered, empty_buffer, search_id_of

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS = "203.0.113.77"
FORWARDED = "198.51.100.23"
AGENT = "VisitorBrowser/1.0 (a-unique-agent-string)"
VISITOR = {"REMOTE_ADDR": ADDRESS, "HTTP_X_FORWARDED_FOR": FORWARDED, "HTTP_USER_AGENT": AGENT}
STORED_FIELDS = {"id", "search_id", "query", "mode", "filters", "result_count", "page", "source", "created_at"}


def test_normalise_query_lowers_and_collapses_but_keeps_accents() -> None:
    assert log.normalise_query("  Café\t de   NUIT \n") == "café de nuit"
    assert log.normalise_query("Cafe\u0301") == "café"  # a combining accent becomes the composed letter


def test_searches_are_logged_with_normalised_text_and_no_address(
    client: Client, indexed: list[Artwork], celery_worker: Any, redis_client: Any
) -> None:
    empty_buffer(redis_client)
    page = client.get("/", {"q": "  Bedroom   at ARLES, à la Fenêtre "}, **VISITOR)
    fragment = client.get(
        "/",
        {"q": "Yellow  Chairs", "mode": "keyword", "is_public_domain": "true"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="results",
        **VISITOR,
    )
    answer = client.get(
        "/api/search", {"q": "A  Stormy SEA", "mode": "semantic", "page": "2", "page_size": "5"}, **VISITOR
    )
    assert page.status_code == fragment.status_code == answer.status_code == 200
    page_html, fragment_html = page.content.decode(), fragment.content.decode()

    raw = json.dumps(buffered(redis_client))
    assert len(buffered(redis_client)) == 3
    for trace in (ADDRESS, FORWARDED, AGENT, "203.0.113", "198.51.100"):
        assert trace not in raw

    flush_search_log_task.delay()
    wait_until(lambda: SearchLogEntry.objects.count() == 3, timeout=30)
    assert redis_client.llen(log.BUFFER_KEY) == 0

    by_query = {entry.query: entry for entry in SearchLogEntry.objects.all()}
    assert set(by_query) == {"bedroom at arles, à la fenêtre", "yellow chairs", "a stormy sea"}

    first = by_query["bedroom at arles, à la fenêtre"]
    assert (first.source, first.mode, first.page, first.filters) == ("page", "hybrid", 1, {})
    assert first.result_count == page_html.count('class="card"') > 0
    assert first.search_id.hex == search_id_of(page_html)

    typed = by_query["yellow chairs"]
    assert (typed.source, typed.mode, typed.filters) == ("page", "keyword", {"is_public_domain": True})
    assert typed.result_count == fragment_html.count('class="card"')

    api = by_query["a stormy sea"]
    assert (api.source, api.mode, api.page) == ("api", "semantic", 2)
    assert api.result_count == len(answer.json()["results"]) == 5

    for entry in by_query.values():
        row = model_to_dict(entry)
        assert set(row) | {"id"} == STORED_FIELDS
        text = json.dumps(row, default=str)
        for trace in (ADDRESS, FORWARDED, AGENT, "203.0.113", "198.51.100"):
            assert trace not in text
    assert set(client.cookies) <= {"csrftoken"}  # the log sets no cookie of its own
