"""The cache's Redis may evict the search generation (allkeys-lru): a search that finds it gone sets a
new one, and an answer cached before a change is never served after it, however often it is evicted."""

from __future__ import annotations

import pytest
from django.test import Client

from catalog.models import Artwork
from search.query_cache import cache_client
from search.result_cache import GENERATION_KEY

pytestmark = pytest.mark.django_db(transaction=True)

QUERY = {"q": "a portrait of a woman", "page_size": 5}


def _top(client: Client) -> str:
    return str(client.get("/api/search", QUERY).json()["results"][0]["id"])


def test_an_evicted_generation_never_brings_back_an_answer_from_before_a_change(
    client: Client, indexed: list[Artwork]
) -> None:
    redis = cache_client()
    redis.delete(GENERATION_KEY)  # evicted
    top = _top(client)  # computed while there was no generation
    assert redis.get(GENERATION_KEY)  # the search set a new one
    assert _top(client) == top

    artwork = Artwork.objects.get(aic_id=top)
    artwork.is_hidden = True
    artwork.save()  # a curator hides it: every cached answer is stale
    redis.delete(GENERATION_KEY)  # and the generation is evicted again
    assert str(artwork.aic_id) not in [str(r["id"]) for r in client.get("/api/search", QUERY).json()["results"]]
