"""With the database away the API answers JSON 503 with Retry-After (no Django HTML 500, no
exception text) and the pages a short 503 page; with Redis away the API still searches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork
from search.tests.outages import CLOSED_PORT_REDIS_URL, SECRET_DB_USER, database_away

pytestmark = pytest.mark.django_db(transaction=True)


def _assert_api_unavailable(response: Any, host: str) -> None:
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"error": "temporarily unavailable"}
    assert int(response["Retry-After"]) > 0
    assert host not in response.content.decode() and SECRET_DB_USER not in response.content.decode()


def test_the_api_answers_json_503_with_the_database_away(
    client: Client, indexed: list[Artwork], tmp_path: Path
) -> None:
    aic_id = indexed[0].aic_id
    with database_away(tmp_path) as host:
        for url in ("/api/search?q=sea", f"/api/artworks/{aic_id}", f"/api/artworks/{aic_id}/similar", "/metrics"):
            _assert_api_unavailable(client.get(url), host)
    assert client.get(f"/api/artworks/{aic_id}").status_code == 200  # and it comes back


def test_the_pages_answer_a_503_page_with_the_database_away(
    client: Client, indexed: list[Artwork], tmp_path: Path
) -> None:
    from django.core.cache import cache

    cache.clear()  # the filter menus are cached: the page must read them from the database
    with database_away(tmp_path) as host:
        for url in ("/", "/?q=sea", f"/artworks/{indexed[0].aic_id}"):
            response = client.get(url)
            assert response.status_code == 503, url
            assert int(response["Retry-After"]) > 0
            text = response.content.decode()
            assert "temporarily unavailable" in text
            assert host not in text and SECRET_DB_USER not in text
            assert "Content-Security-Policy" in response


def test_the_api_still_searches_with_redis_away(client: Client, indexed: list[Artwork], settings: Any) -> None:
    settings.REDIS_URL = settings.SEARCH_QUERY_CACHE_URL = settings.CELERY_BROKER_URL = CLOSED_PORT_REDIS_URL
    settings.RATE_LIMIT_BUDGET = 100  # the limit's counter is in Redis too
    response = client.get("/api/search", {"q": "sea"})
    assert response.status_code == 200
    assert response.json()["results"]
