"""/metrics with PRODUCTION=1: closed (403) until METRICS_TOKEN is set, then only the right bearer
token reads it (401 otherwise, compared in constant time); its counts are kept METRICS_CACHE_SECONDS."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from catalog.models import Artwork
from search import metrics

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_is_closed_in_production_without_a_token(client: Client, settings: Any) -> None:
    settings.PRODUCTION = True
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics")
    assert response.status_code == 403
    assert b"museum_" not in response.content
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403


def test_it_is_open_without_a_token_outside_production(client: Client, settings: Any) -> None:
    settings.PRODUCTION = False
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"museum_queue_depth" in response.content


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer wrong-token", "Bearer s3cret-scrape-token-", "s3cret-scrape-token"],
)
def test_it_needs_the_right_token_in_production(client: Client, settings: Any, authorization: str | None) -> None:
    settings.PRODUCTION = True
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"museum_" not in response.content


def test_the_right_token_reads_the_metrics(client: Client, settings: Any) -> None:
    settings.PRODUCTION = True
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    response = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert response.status_code == 200
    assert b"museum_queue_depth" in response.content


def test_a_burst_of_scrapes_counts_once(client: Client, indexed: list[Artwork], settings: Any) -> None:
    settings.METRICS_CACHE_SECONDS = 10
    metrics._recent_operations.clear()
    with CaptureQueriesContext(connection) as first:
        assert client.get("/metrics").status_code == 200
    with CaptureQueriesContext(connection) as second:
        response = client.get("/metrics")
    assert len(first) > 3
    assert len(second) == 0
    assert b'museum_index_artworks{model="micro",state="embedded"} %d' % len(indexed) in response.content
