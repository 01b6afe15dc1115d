"""A query that is an artwork's exact title ranks that artwork first in hybrid, as in keyword mode:
plain rank fusion put it below artworks that only share a word with it and sit mid-list in both lists."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalog.models import Artwork
from search.fusion import fuse, title_keys
from search.keyword import text_matches
from search.query_cache import embed_query
from search.vector import vector_neighbours

pytestmark = pytest.mark.django_db(transaction=True)

TITLE = "Bishop Saint Enthroned"
TITLED = 16192  # Allegretto Nuzi: the only artwork of the sample with this title
PORTRAITS_OF_A_MAN = {10281, 59960, 79789, 80535, 86441}  # five artworks titled "Portrait of a Man"


def _ids(client: Client, **params: Any) -> list[int]:
    response = client.get("/api/search", params)
    assert response.status_code == 200, response.content
    return [hit["id"] for hit in response.json()["results"]]


def test_the_exact_title_is_first_in_hybrid_as_in_keyword_mode(
    client: Client, collection: list[Artwork], embedding_model: Any, settings: Any
) -> None:
    # Equal weights at rrf_k 60, under which plain rank fusion of these lists puts others first (the
    # tuned defaults lean on the keyword list and would put it first without the title rule).
    settings.SEARCH_RRF_K, settings.SEARCH_KEYWORD_WEIGHT, settings.SEARCH_SEMANTIC_WEIGHT = 60, 1.0, 1.0
    assert _ids(client, q=TITLE, mode="keyword")[0] == TITLED
    # Plain rank fusion of the same two lists (no title match) ranks others first.
    depth = settings.SEARCH_HYBRID_CANDIDATES
    keyword = [artwork for artwork, _ in text_matches(TITLE, depth)]
    semantic = [
        artwork for artwork, _ in vector_neighbours(embedding_model, embed_query(embedding_model, TITLE), depth)
    ]
    plain = [hit.artwork.aic_id for hit in fuse(keyword, semantic)]
    assert plain.index(TITLED) > 0

    assert _ids(client, q=TITLE)[0] == TITLED
    assert _ids(client, q=TITLE, mode="hybrid")[0] == TITLED
    assert _ids(client, q=f"  {TITLE.upper()}. ")[0] == TITLED  # case and punctuation aside


def test_artworks_sharing_the_title_lead_hybrid_together(client: Client, collection: list[Artwork]) -> None:
    ids = _ids(client, q="Portrait of a Man")

    assert set(ids[: len(PORTRAITS_OF_A_MAN)]) == PORTRAITS_OF_A_MAN


def test_a_title_is_matched_whole_with_or_without_its_parenthesised_part() -> None:
    keys = title_keys("Stacks of Wheat (End of Summer)")

    assert keys == {"stacks of wheat end of summer", "stacks of wheat", "end of summer"}
    assert title_keys("Étretat: The Beach and the Falaise d'Amont") == {"etretat the beach and the falaise d amont"}
    assert "wheat" not in keys  # a word of the title is not the title
