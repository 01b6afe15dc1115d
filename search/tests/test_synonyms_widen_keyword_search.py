"""A curator's synonyms widen keyword search, in keyword and hybrid mode: "ocean" finds "sea", and a
phrase stands for itself only as a phrase. Semantic mode is unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork, Synonym
from search.keyword import text_matches
from search.tests.curated import build_catalog, ids, results

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def catalog(embedding_model: Any) -> dict[str, Artwork]:
    return build_catalog(embedding_model)


def test_a_synonym_finds_the_artwork_the_words_missed(client: Client, catalog: dict[str, Artwork]) -> None:
    storm, waves = catalog["storm"].aic_id, catalog["waves"].aic_id
    assert ids(client, q="ocean", mode="keyword") == [waves]
    Synonym.objects.create(terms="Sea,  ocean")
    found = ids(client, q="ocean", mode="keyword")
    # The title (weight A) outranks the description (weight C).
    assert found == [storm, waves]
    assert ids(client, q="SEA", mode="keyword") == [storm, waves]  # two-way


def test_a_synonym_counts_as_one_word_of_a_longer_query(catalog: dict[str, Artwork]) -> None:
    Synonym.objects.create(terms="sea, ocean")
    # "storm at ocean": the storm holds both units (storm, and sea for ocean), the waves one.
    found = [(artwork.aic_id, score) for artwork, score in text_matches("storm at ocean", 10)]
    assert [aic_id for aic_id, _ in found] == [catalog["storm"].aic_id, catalog["waves"].aic_id]
    # Scored as holding 2 of 2 words, and 1 of 2: (held + rank fraction) / (words + 1).
    assert 2 / 3 <= found[0][1] < 1 and 1 / 3 <= found[1][1] < 2 / 3


def test_a_long_query_counts_the_synonyms_units_held(catalog: dict[str, Artwork]) -> None:
    # Eight units: the tier of four is skipped (70 sets of four), so the tier of three counts what each holds.
    Synonym.objects.create(terms="sea, ocean")
    near = Artwork.objects.create(aic_id=201, title="Storm at sea near a quiet harbour", content_hash="x")
    query = "storm ocean quiet harbour merchant portrait haystacks evening"
    found = {artwork.aic_id: score for artwork, score in text_matches(query, 10)}
    held = {aic_id: int(score * 9) for aic_id, score in found.items()}  # (held + rank fraction) / (8 + 1)
    assert held[near.aic_id] == 4  # storm, sea for ocean, quiet, harbour
    assert held[catalog["storm"].aic_id] == 2 and held[catalog["waves"].aic_id] == 2
    assert max(found, key=lambda aic_id: found[aic_id]) == near.aic_id


def test_a_phrase_matches_only_as_a_phrase(client: Client, catalog: dict[str, Artwork]) -> None:
    assert ids(client, q="impressionist", mode="keyword") == []
    Synonym.objects.create(terms="impressionist, Claude Monet")
    # "Claude Monet" in the artist's line matches; "Claude Lorrain ... Monet" holds both words apart.
    assert ids(client, q="impressionist", mode="keyword") == [catalog["haystacks"].aic_id]


def test_a_synonym_changes_hybrid_ranks_as_fusion_states(
    client: Client, catalog: dict[str, Artwork], settings: Any
) -> None:
    storm = catalog["storm"].aic_id
    before = {hit["id"]: hit["score"] for hit in results(client, q="ocean", mode="hybrid")}
    semantic = ids(client, q="ocean", mode="semantic")
    Synonym.objects.create(terms="sea, ocean")
    keyword = ids(client, q="ocean", mode="keyword")
    after = results(client, q="ocean", mode="hybrid")
    assert ids(client, q="ocean", mode="semantic") == semantic  # meaning knows no synonyms
    # The storm now also holds a place in the keyword list: its fused score gains that place's share.
    gain = settings.SEARCH_KEYWORD_WEIGHT / (settings.SEARCH_RRF_K + keyword.index(storm) + 1)
    scores = {hit["id"]: hit["score"] for hit in after}
    assert scores[storm] == pytest.approx(before[storm] + gain, abs=1e-5)
    # And the hybrid order is the fusion of the two lists.
    rrf_k = settings.SEARCH_RRF_K

    def fused(aic_id: int) -> tuple[float, int, int]:
        places = [ranking.index(aic_id) + 1 for ranking in (keyword, semantic) if aic_id in ranking]
        score = sum(
            (settings.SEARCH_KEYWORD_WEIGHT if ranking is keyword else settings.SEARCH_SEMANTIC_WEIGHT)
            / (rrf_k + ranking.index(aic_id) + 1)
            for ranking in (keyword, semantic)
            if aic_id in ranking
        )
        return (-round(score, 12), min(places), aic_id)

    assert [hit["id"] for hit in after] == sorted(set(keyword) | set(semantic), key=fused)
