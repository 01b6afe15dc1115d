"""A burst of /healthz counts once: the model, index and sync counts are kept HEALTHZ_CACHE_SECONDS
per process, while the database and the broker are still asked at every call."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from catalog.models import Artwork
from search import services

pytestmark = pytest.mark.django_db(transaction=True)


def _queries(client: Client) -> tuple[dict[str, Any], list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz")
    assert response.status_code == 200
    return response.json(), [query["sql"] for query in queries]


def test_a_second_call_within_the_window_runs_no_count(client: Client, indexed: list[Artwork], settings: Any) -> None:
    settings.HEALTHZ_CACHE_SECONDS = 10
    services._recent_counts.clear()
    first, first_queries = _queries(client)
    second, second_queries = _queries(client)
    assert len(first_queries) > 3
    assert second_queries == ["SELECT 1"]
    assert second == first
    assert second["index"]["embedded"] == len(indexed)


def test_without_a_window_every_call_counts(client: Client, indexed: list[Artwork], settings: Any) -> None:
    settings.HEALTHZ_CACHE_SECONDS = 0
    _, first_queries = _queries(client)
    _, second_queries = _queries(client)
    assert len(second_queries) == len(first_queries) > 3


def test_a_broker_outage_shows_at_once_within_the_window(client: Client, indexed: list[Artwork], settings: Any) -> None:
    settings.HEALTHZ_CACHE_SECONDS = 10
    services._recent_counts.clear()
    assert client.get("/healthz").status_code == 200
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "error: unreachable"
