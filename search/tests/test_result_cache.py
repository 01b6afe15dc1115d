"""A repeated search is answered from the result cache, and any change to what it found makes it stale at once."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from catalog.models import Artwork
from embeddings.models import ArtworkEmbedding
from embeddings.pipeline import embed_artworks

pytestmark = pytest.mark.django_db(transaction=True)

QUERY = {"q": "a portrait of a woman", "page_size": 5}


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _searches_ranked() -> float:
    return _count("museum_search_duration_seconds_count", mode="hybrid")


def test_a_repeated_search_is_answered_from_the_cache(client: Client, indexed: list[Artwork], settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["testserver", "other.example"]
    first = client.get("/api/search", QUERY)
    ranked, hits = _searches_ranked(), _count("museum_search_result_cache_lookups_total", result="hit")
    again = client.get("/api/search", {**QUERY, "q": "  A Portrait of a WOMAN "}, HTTP_HOST="other.example")
    assert again.status_code == 200
    assert _searches_ranked() == ranked  # nothing was ranked again
    assert _count("museum_search_result_cache_lookups_total", result="hit") == hits + 1
    body, cached = first.json(), again.json()
    assert [r["id"] for r in cached["results"]] == [r["id"] for r in body["results"]]
    assert cached["results"] == body["results"]
    assert cached["query"] == "A Portrait of a WOMAN"  # this request's own spelling
    # The next link is the request's own, never the cached one's host.
    assert body["next"].startswith("http://testserver/") and cached["next"].startswith("http://other.example/")


def test_another_page_filter_or_mode_is_another_answer(client: Client, indexed: list[Artwork]) -> None:
    client.get("/api/search", QUERY)
    ranked = _searches_ranked()
    second_page = client.get("/api/search", {**QUERY, "page": 2}).json()
    assert second_page["page"] == 2 and _searches_ranked() == ranked + 1
    client.get("/api/search", {**QUERY, "is_public_domain": "true"})
    assert _searches_ranked() == ranked + 2
    semantic = client.get("/api/search", {**QUERY, "mode": "semantic"}).json()
    assert semantic["mode"] == "semantic"


def test_hiding_an_artwork_removes_it_from_a_cached_answer_at_once(
    client: Client, indexed: list[Artwork], admin_client: Client
) -> None:
    top = client.get("/api/search", QUERY).json()["results"][0]["id"]
    artwork = Artwork.objects.get(aic_id=top)
    response = admin_client.post(
        "/admin/catalog/artwork/", {"action": "hide", "_selected_action": [artwork.pk]}, follow=True
    )
    assert response.status_code == 200 and Artwork.objects.get(pk=artwork.pk).is_hidden
    assert top not in [r["id"] for r in client.get("/api/search", QUERY).json()["results"]]
    artwork.refresh_from_db()
    artwork.is_hidden = False
    artwork.save()  # a curator's edit of one artwork
    assert client.get("/api/search", QUERY).json()["results"][0]["id"] == top


def test_vectors_stored_under_the_active_model_make_cached_answers_stale(
    client: Client, indexed: list[Artwork], embedding_model: Any
) -> None:
    semantic = {**QUERY, "mode": "semantic", "page_size": 100}
    newcomer = indexed[0]
    ArtworkEmbedding.objects.filter(artwork=newcomer).delete()  # as if not embedded yet (no signal)
    client.get("/api/search", semantic)  # the generation is this test's own: this answer is computed now
    cached_ids = [r["id"] for r in client.get("/api/search", semantic).json()["results"]]
    assert newcomer.aic_id not in cached_ids
    assert embed_artworks([newcomer.pk], embedding_model).embedded == [newcomer.pk]
    assert newcomer.aic_id in [r["id"] for r in client.get("/api/search", semantic).json()["results"]]


def test_search_works_without_the_cache(client: Client, indexed: list[Artwork], settings: Any) -> None:
    expected = [r["id"] for r in client.get("/api/search", QUERY).json()["results"]]
    settings.SEARCH_QUERY_CACHE_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    errors = _count("museum_search_result_cache_lookups_total", result="error")
    response = client.get("/api/search", QUERY)
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == expected
    assert _count("museum_search_result_cache_lookups_total", result="error") == errors + 1


def test_zero_seconds_turns_the_cache_off(client: Client, indexed: list[Artwork], settings: Any) -> None:
    settings.SEARCH_RESULT_CACHE_SECONDS = 0
    client.get("/api/search", QUERY)
    ranked = _searches_ranked()
    client.get("/api/search", QUERY)
    assert _searches_ranked() == ranked + 1
