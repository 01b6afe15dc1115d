"""Hybrid ranking: the keyword and vector lists fused by weighted reciprocal rank fusion.

score = Σ weight / (SEARCH_RRF_K + rank), so an artwork near the top of either list ranks well
and one near the top of both ranks best, whatever the two scores' scales. Curator boosts are
added: a boost of 1.0 is worth as much as first place in one more list of weight 1.0
(SEARCH_BOOST_WEIGHT scales it). The default constants are `tune_search_weights`' choice on the
judged set.

Rank fusion sees places, not how well an artwork answers: two middling places can outscore one
first place. Where the query is an artwork's title, the words say exactly which artwork is meant,
so an exact title match is worth first place in both lists on top of its own places, and comes
before every artwork that only shares words with it (search/tests/test_exact_title_first_in_hybrid.py;
`evaluate_search` measures the judged set before and after).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from django.conf import settings

from catalog.models import Artwork
from embeddings.models import EmbeddingModel
from search.filters import SearchFilters
from search.keyword import text_matches
from search.query_cache import embed_query_meanwhile
from search.types import Hit
from search.vector import vector_neighbours


@dataclass(frozen=True)
class FusionWeights:
    """The fusion constants: ``rrf_k`` (higher flattens the top ranks) and each list's weight.

    Visitors' searches use the settings (``from_settings``); the weight sweep
    (``tune_search_weights``) and interleaving rank with others.
    """

    rrf_k: int = 5
    keyword: float = 1.0
    semantic: float = 0.25
    boost: float = 1.0

    @classmethod
    def from_settings(cls) -> FusionWeights:
        return cls(
            rrf_k=settings.SEARCH_RRF_K,
            keyword=settings.SEARCH_KEYWORD_WEIGHT,
            semantic=settings.SEARCH_SEMANTIC_WEIGHT,
            boost=settings.SEARCH_BOOST_WEIGHT,
        )


@dataclass(frozen=True)
class HybridRanking:
    """Hybrid's fused hits, and the vector list it fused: the artworks nearest to the query, nearest first
    (facet counts count those, and need not walk the index again)."""

    hits: list[Hit]
    nearest: tuple[int, ...]


def hybrid_hits(
    model: EmbeddingModel,
    query: str,
    k: int,
    filters: SearchFilters | None = None,
    weights: FusionWeights | None = None,
) -> list[Hit]:
    """Keyword and vector rankings fused by weighted reciprocal rank fusion, best first; ``weights``:
    the settings' when None."""
    return hybrid_ranking(model, query, k, filters, weights).hits


def hybrid_ranking(
    model: EmbeddingModel,
    query: str,
    k: int,
    filters: SearchFilters | None = None,
    weights: FusionWeights | None = None,
) -> HybridRanking:
    """``hybrid_hits``, with the at least SEARCH_HYBRID_CANDIDATES nearest artworks it fused."""
    depth = max(k, settings.SEARCH_HYBRID_CANDIDATES)
    # The text tower encodes the query while the database ranks the keyword list, which needs no vector.
    query_vector = embed_query_meanwhile(model, query)
    keyword = text_matches(query, depth, filters)
    semantic = vector_neighbours(model, query_vector.result(), depth, filters=filters)
    similarity = {artwork.pk: score for artwork, score in semantic}
    fused = fuse([artwork for artwork, _ in keyword], [artwork for artwork, _ in semantic], query, weights, similarity)
    return HybridRanking(fused[:k], tuple(artwork.pk for artwork, _ in semantic))


_WORDS = re.compile(r"\w+")
_PARENTHESISED = re.compile(r"\(([^)]*)\)")


def title_key(text: str) -> str:
    """Text as a title match compares it: case, accents and punctuation dropped, words kept in order."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_WORDS.findall(text.casefold()))


@functools.lru_cache(maxsize=65_536)
def title_keys(title: str) -> frozenset[str]:
    """The ways a visitor may type ``title`` whole: all of it, without its parenthesised part, or that
    part alone ("Stacks of Wheat (End of Summer)": either name). Cached: a catalog's titles recur in
    search after search."""
    keys = {title_key(title)}
    if "(" in title:
        keys.add(title_key(_PARENTHESISED.sub(" ", title)))
        keys.update(title_key(inner) for inner in _PARENTHESISED.findall(title))
    keys.discard("")
    return frozenset(keys)


def fuse(
    keyword: list[Artwork],
    semantic: list[Artwork],
    query: str = "",
    weights: FusionWeights | None = None,
    similarity: dict[int, float] | None = None,
) -> list[Hit]:
    """Weighted reciprocal rank fusion of two rankings (each best first), plus curator boosts, plus
    first place in both lists for an artwork whose title is ``query``; ``weights``: the settings' when None.
    ``similarity``: the semantic list's cosine similarities by artwork primary key, carried on the hits."""
    similarity = similarity or {}
    weights = weights or FusionWeights.from_settings()
    rrf_k = weights.rrf_k
    wanted_title = title_key(query)
    artworks: dict[int, Artwork] = {}
    keyword_rank: dict[int, int] = {}
    semantic_rank: dict[int, int] = {}
    for rank, artwork in enumerate(keyword, 1):
        artworks[artwork.pk] = artwork
        keyword_rank[artwork.pk] = rank
    for rank, artwork in enumerate(semantic, 1):
        artworks.setdefault(artwork.pk, artwork)
        semantic_rank[artwork.pk] = rank
    fused: list[Hit] = []
    for pk, artwork in artworks.items():
        score = artwork.boost * weights.boost / (rrf_k + 1)
        if pk in keyword_rank:
            score += weights.keyword / (rrf_k + keyword_rank[pk])
        if pk in semantic_rank:
            score += weights.semantic / (rrf_k + semantic_rank[pk])
        if wanted_title and wanted_title in title_keys(artwork.title):
            score += (weights.keyword + weights.semantic) / (rrf_k + 1)
        fused.append(Hit(artwork, score, keyword_rank.get(pk), semantic_rank.get(pk), similarity=similarity.get(pk)))
    unranked = len(artworks) + 1
    # Ties: the better single place first, then the lower AIC id, so a page order never flickers.
    fused.sort(
        key=lambda hit: (
            -hit.score,
            min(hit.keyword_rank or unranked, hit.semantic_rank or unranked),
            hit.artwork.aic_id,
        )
    )
    return fused
