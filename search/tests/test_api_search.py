from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.test import Client

from catalog.models import Artwork, visible_q
from embeddings.encoders.per_process import get_text_encoder
from embeddings.models import ArtworkEmbedding

pytestmark = pytest.mark.django_db(transaction=True)


def _brute_force_ranking(model: Any, query: str) -> list[int]:
    """AIC ids ranked by exact cosine similarity, computed here without the database index."""
    query_vector = get_text_encoder(model).encode([query])[0]
    rows = list(ArtworkEmbedding.objects.filter(visible_q("artwork__"), model=model).select_related("artwork"))
    scores = np.array([np.dot(np.asarray(row.vector), query_vector) for row in rows])
    return [rows[i].artwork.aic_id for i in np.argsort(-scores)]


def test_it_ranks_artworks_as_exact_search_does(client: Client, indexed: list[Artwork], embedding_model: Any) -> None:
    response = client.get("/api/search", {"q": "a stormy sea at night", "k": 5, "mode": "semantic"})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "a stormy sea at night"
    assert body["model"] == embedding_model.name
    assert [hit["id"] for hit in body["results"]] == _brute_force_ranking(embedding_model, body["query"])[:5]
    first = body["results"][0]
    assert set(first) == {
        *("id", "title", "artist", "date", "score", "image_url", "thumbnail_url", "pinned"),
        *("why", "weak", "similar"),
    }
    assert first["image_url"].endswith("/full/843,/0/default.jpg")
    scores = [hit["score"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_it_never_returns_hidden_artworks(client: Client, indexed: list[Artwork], embedding_model: Any) -> None:
    top = client.get("/api/search", {"q": "portrait", "k": 3}).json()["results"][0]["id"]
    Artwork.objects.filter(aic_id=top).update(is_hidden=True)
    for mode in ("hybrid", "semantic", "keyword"):
        ids = [
            hit["id"] for hit in client.get("/api/search", {"q": "portrait", "k": 100, "mode": mode}).json()["results"]
        ]
        assert top not in ids
    semantic = client.get("/api/search", {"q": "portrait", "k": 100, "mode": "semantic"}).json()["results"]
    assert len(semantic) == len(indexed) - 1


def test_similar_returns_image_neighbours_without_the_artwork_itself(
    client: Client, indexed: list[Artwork], embedding_model: Any
) -> None:
    artwork = indexed[0]
    body = client.get(f"/api/artworks/{artwork.aic_id}/similar", {"k": 4}).json()
    ids = [hit["id"] for hit in body["results"]]
    assert len(ids) == 4 and artwork.aic_id not in ids
    own = np.asarray(ArtworkEmbedding.objects.get(artwork=artwork).vector)
    others = ArtworkEmbedding.objects.exclude(artwork=artwork).select_related("artwork")
    expected = sorted(others, key=lambda row: -float(np.dot(np.asarray(row.vector), own)))[:4]
    assert ids == [row.artwork.aic_id for row in expected]


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/api/search", {}, 400, "q must not be empty"),
        ("/api/search", {"q": "   "}, 400, "q must not be empty"),
        ("/api/search", {"q": "x" * 301}, 400, "longer than 300"),
        ("/api/search", {"q": "sea", "k": "0"}, 400, "k must be from 1 to 100"),
        ("/api/search", {"q": "sea", "k": "101"}, 400, "k must be from 1 to 100"),
        ("/api/search", {"q": "sea", "k": "ten"}, 400, "k must be an integer"),
        ("/api/artworks/999999999/similar", {}, 404, "no artwork with id"),
        ("/api/artworks/99999999999999/similar", {}, 404, "no artwork with id"),
    ],
)
def test_it_answers_bad_input_with_a_json_error(
    client: Client, indexed: list[Artwork], path: str, params: dict[str, str], status: int, message: str
) -> None:
    response = client.get(path, params)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_it_says_503_when_no_model_is_active(client: Client, db: None) -> None:
    response = client.get("/api/search", {"q": "sea"})
    assert response.status_code == 503
    assert "no active embedding model" in response.json()["error"]


def test_the_query_uses_the_models_hnsw_index(indexed: list[Artwork], embedding_model: Any) -> None:
    from django.db import connection, transaction

    vector = np.ones(embedding_model.dimension) / np.sqrt(embedding_model.dimension)
    queryset = (
        ArtworkEmbedding.objects.filter(visible_q("artwork__"), model=embedding_model)
        .annotate(distance=embedding_model.index_distance(vector))
        .order_by("distance")[:10]
    )
    # A 30-row table is cheaper to sort than to walk an index; forbid the sort so only a usable index can win.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        plan = queryset.explain()
    assert embedding_model.hnsw_index_name in plan
