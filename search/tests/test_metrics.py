"""/metrics for Prometheus: request latency, queue depth, embeddings per second, harvest lag."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)


def _samples(client: Client, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_it_reports_latency_queues_throughput_and_harvest_lag(
    client: Client, indexed: list[Artwork], embedding_model: Any
) -> None:
    before = _samples(client)
    search_count = (
        "museum_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "api/search"), ("status", "200")),
    )
    client.get("/api/search", {"q": "sea"})
    client.get("/api/search", {"q": "sea"})
    samples = _samples(client)
    assert samples[search_count] == before.get(search_count, 0) + 2
    for queue in ("embed", "sync", "default"):
        assert samples[("museum_queue_depth", (("queue", queue),))] >= 0
    # Every vector was written moments ago: the five-minute average counts them all.
    rate = samples[("museum_embeddings_per_second", (("model", "micro"),))]
    assert rate == pytest.approx(len(indexed) / 300)
    assert samples[("museum_index_artworks", (("model", "micro"), ("state", "embedded")))] == len(indexed)
    assert 0 <= samples[("museum_harvest_lag_seconds", ())] < 60
    assert samples[("museum_catalog_newest_change_age_seconds", ())] > 0
    assert samples[("museum_search_duration_seconds_count", (("mode", "hybrid"),))] >= 2


def test_it_asks_for_the_token_when_one_is_set(client: Client, db: None, settings: Any) -> None:
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert _samples(client, Authorization="Bearer scrape-me")
