"""Query vectors are cached in Redis by (model, normalised query), so a repeat skips the text tower."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.test import Client
from prometheus_client import REGISTRY

from catalog.models import Artwork
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from search.query_cache import cache_key, normalise_query

pytestmark = pytest.mark.django_db(transaction=True)


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _tower_runs() -> float:
    return _count("museum_text_tower_duration_seconds_count")


def test_a_repeated_query_skips_the_text_tower(
    client: Client, indexed: list[Artwork], embedding_model: Any, redis_client: Any, settings: Any
) -> None:
    settings.SEARCH_RESULT_CACHE_SECONDS = 0  # whole answers are not cached: the query vector is
    redis_client.flushdb()
    before = _tower_runs()
    first = client.get("/api/search", {"q": "a quiet harbour", "mode": "semantic"}).json()
    assert _tower_runs() == before + 1
    key = cache_key(embedding_model, "a quiet harbour")
    assert 0 < redis_client.ttl(key) <= 7 * 24 * 3600
    assert len(redis_client.get(key)) == 4 * embedding_model.dimension
    hits = _count("museum_query_vector_cache_lookups_total", result="hit")
    again = client.get("/api/search", {"q": "  A QUIET   harbour ", "mode": "semantic"}).json()
    assert _tower_runs() == before + 1
    assert _count("museum_query_vector_cache_lookups_total", result="hit") == hits + 1
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]


def test_search_uses_the_cached_vector(
    client: Client, indexed: list[Artwork], embedding_model: Any, redis_client: Any
) -> None:
    # Plant an artwork's own image vector as the query's: the search must then rank that artwork first.
    target = indexed[7]
    vector = np.asarray(ArtworkEmbedding.objects.get(artwork=target).vector, dtype=np.float32)
    redis_client.set(cache_key(embedding_model, "planted query"), vector.tobytes())
    body = client.get("/api/search", {"q": "Planted Query", "mode": "semantic", "k": 1}).json()
    assert body["results"][0]["id"] == target.aic_id


def test_the_key_names_the_model_and_its_weights(embedding_model: Any) -> None:
    other = EmbeddingModel(pk=embedding_model.pk, name="micro", architecture="museum-micro", pretrained="/other.pt")
    other.dimension = embedding_model.dimension
    assert cache_key(embedding_model, "sea") != cache_key(other, "sea")
    assert cache_key(embedding_model, " Sea\n") == cache_key(embedding_model, "sea")
    assert normalise_query("  Stormy\tSEA  at night ") == "stormy sea at night"


def test_search_still_works_when_the_cache_is_down(client: Client, indexed: list[Artwork], settings: Any) -> None:
    settings.SEARCH_QUERY_CACHE_URL = "redis://127.0.0.1:1/0"
    errors = _count("museum_query_vector_cache_lookups_total", result="error")
    response = client.get("/api/search", {"q": "a garden", "mode": "semantic", "k": 3})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3
    assert _count("museum_query_vector_cache_lookups_total", result="error") == errors + 1
