"""Each ranking mode wins where it should: words for names and titles, meaning for scenes, both by default."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.db.models import Value
from django.test import Client

from catalog.models import Artwork, visible_q
from embeddings.encoders.per_process import get_text_encoder
from embeddings.models import ArtworkEmbedding

pytestmark = pytest.mark.django_db(transaction=True)

WATER_LILIES = 16568  # Claude Monet, "Water Lilies"


def _ids(client: Client, **params: Any) -> list[int]:
    response = client.get("/api/search", params)
    assert response.status_code == 200, response.content
    return [hit["id"] for hit in response.json()["results"]]


def _brute_force(model: Any, query: str) -> list[int]:
    """AIC ids of visible embedded artworks by exact cosine similarity to the query, best first."""
    query_vector = get_text_encoder(model).encode([query.lower()])[0]
    rows = list(ArtworkEmbedding.objects.filter(visible_q("artwork__"), model=model).select_related("artwork"))
    scores = np.array([np.dot(np.asarray(row.vector), query_vector) for row in rows])
    return [rows[i].artwork.aic_id for i in np.argsort(-scores, kind="stable")]


def test_keyword_mode_finds_monet_water_lilies_first(client: Client, collection: list[Artwork]) -> None:
    ids = _ids(client, q="Monet water lilies", mode="keyword", k=20)
    assert ids[0] == WATER_LILIES
    monets = set(Artwork.objects.filter(artist_display__contains="Monet").values_list("aic_id", flat=True))
    # After the title match: Monet's own paintings (artist, weight B) and the portrait titled "Claude Monet".
    assert monets <= set(ids)


def test_semantic_mode_ranks_by_meaning_as_exact_search_does(
    client: Client, collection: list[Artwork], embedding_model: Any
) -> None:
    query = "a stormy sea at night"
    assert _ids(client, q=query, mode="semantic", k=10) == _brute_force(embedding_model, query)[:10]


def test_hybrid_fuses_the_two_rankings_by_reciprocal_rank(
    client: Client, collection: list[Artwork], settings: Any
) -> None:
    query = "Monet water lilies"
    keyword = _ids(client, q=query, mode="keyword", k=100)
    semantic = _ids(client, q=query, mode="semantic", k=100)
    rrf_k = settings.SEARCH_RRF_K
    weighted = ((keyword, settings.SEARCH_KEYWORD_WEIGHT), (semantic, settings.SEARCH_SEMANTIC_WEIGHT))

    def fused(aic_id: int) -> tuple[float, int, int]:
        places = [(lst.index(aic_id) + 1, weight) for lst, weight in weighted if aic_id in lst]
        score = sum(weight / (rrf_k + rank) for rank, weight in places)
        return (-round(score, 12), min(rank for rank, _ in places), aic_id)

    expected = sorted(set(keyword) | set(semantic), key=fused)[:20]
    assert _ids(client, q=query, k=20) == expected
    assert _ids(client, q=query, mode="hybrid", k=20) == expected


def test_hybrid_puts_monet_water_lilies_first_when_the_vectors_agree(
    client: Client, collection: list[Artwork], embedding_model: Any
) -> None:
    # Give the painting the vector a model that sees water lilies in it would give: the query's own.
    query = "Monet water lilies"
    vector = get_text_encoder(embedding_model).encode([query.lower()])[0]
    ArtworkEmbedding.objects.filter(model=embedding_model, artwork__aic_id=WATER_LILIES).update(vector=vector)
    assert _ids(client, q=query, mode="semantic", k=1) == [WATER_LILIES]
    assert _ids(client, q=query, k=5)[0] == WATER_LILIES


def test_hybrid_still_answers_by_meaning_when_no_word_matches(
    client: Client, collection: list[Artwork], embedding_model: Any
) -> None:
    query = "melancholy crimson twilight"
    assert _ids(client, q=query, mode="keyword", k=10) == []
    assert _ids(client, q=query, k=10) == _brute_force(embedding_model, query)[:10]


def test_the_fusion_weights_come_from_settings(
    client: Client, collection: list[Artwork], embedding_model: Any, settings: Any
) -> None:
    query = "Monet water lilies"
    settings.SEARCH_KEYWORD_WEIGHT = 0.0
    assert _ids(client, q=query, k=10) == _brute_force(embedding_model, query)[:10]
    settings.SEARCH_KEYWORD_WEIGHT, settings.SEARCH_SEMANTIC_WEIGHT = 1.0, 0.0
    keyword = _ids(client, q=query, mode="keyword", k=10)
    assert _ids(client, q=query, k=10) == keyword


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
def test_a_curator_boost_lifts_an_artwork_to_the_top(client: Client, collection: list[Artwork], mode: str) -> None:
    query = "Monet water lilies"
    tenth = _ids(client, q=query, mode=mode, k=10)[9]
    artwork = Artwork.objects.get(aic_id=tenth)
    artwork.boost = 1.0
    artwork.save(update_fields=["boost"])  # as the admin saves a curator's edit
    assert _ids(client, q=query, mode=mode, k=10)[0] == tenth


def test_keyword_mode_works_before_any_model_is_active(client: Client, aic: Any) -> None:
    from catalog.harvest import import_dump
    from conftest import SAMPLE_DIR

    import_dump(SAMPLE_DIR / "records")
    body = client.get("/api/search", {"q": "Monet water lilies", "mode": "keyword"}).json()
    assert body["model"] is None
    assert body["results"][0]["id"] == WATER_LILIES
    assert client.get("/api/search", {"q": "Monet water lilies"}).status_code == 503


def test_the_full_text_query_uses_the_gin_index(collection: list[Artwork]) -> None:
    from django.contrib.postgres.search import SearchQueryField
    from django.db import connection, transaction
    from django.db.models import F
    from django.db.models.functions import Cast

    from search.keyword import MatchesQuery, words_tsquery

    # Every tier of a search asks this of the document (here: two of the three words).
    tier = Cast(Value(words_tsquery(["monet", "water", "lili"], 2)), SearchQueryField())
    # No ordering: with the default (aic_id) the planner may walk that index and filter instead.
    matches = Artwork.objects.filter(MatchesQuery(F("search_document"), tier)).order_by()
    # 315 rows are cheaper to scan than to look up; forbid the scan so only a usable index can win.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = matches.explain()
    assert "artwork_search_document_gin" in plan
