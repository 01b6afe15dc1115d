"""Ranking artworks for a query: full-text, CLIP vectors (pgvector HNSW), and their fusion.

- keyword: PostgreSQL full-text search over Artwork.search_document (title A, artist B,
  description, medium and subject terms C): artworks holding more of the query's words first,
  then by ts_rank, so a page of them ranks only the few that hold the most words.
- semantic: the query's CLIP text vector against the artworks' image vectors, nearest first.
- hybrid (the default): both lists fused by weighted reciprocal rank fusion,
  score = Σ weight / (SEARCH_RRF_K + rank), so an artwork near the top of either list ranks
  well and one near the top of both ranks best, whatever the two scores' scales.

Curator boosts are added to every mode's score; in hybrid a boost of 1.0 is worth as much as
first place in one more list (SEARCH_BOOST_WEIGHT scales it).
"""

from __future__ import annotations

import functools
import itertools
import math
import time
import weakref
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.search import SearchQueryField, SearchRank
from django.db import connection
from django.db.models import (
    BooleanField,
    Expression,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.functions import Cast
from pgvector.django import CosineDistance, VectorField

from catalog.models import SEARCH_CONFIG, Artwork, FrequentWord, WordLeader, visible_q
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from embeddings.vector_sql import raw_connection, vector_cursor
from search.filters import SearchFilters
from search.metrics import KEYWORD_LEADER_READS, SEARCH_SECONDS
from search.query_cache import embed_query, embed_query_meanwhile
from search.statements import ListingStatement, Slot

_FREQUENT_WORDS = FrequentWord._meta.db_table

# pgvector refuses hnsw.ef_search above 1000; iterative scans go on past it.
_MAX_EF_SEARCH = 1000


class SearchError(Exception):
    """A search that cannot be answered; ``status`` is the HTTP status to send."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Mode(StrEnum):
    HYBRID = "hybrid"
    SEMANTIC = "semantic"
    KEYWORD = "keyword"


class Sort(StrEnum):
    RELEVANCE = "relevance"
    DATE = "date"  # oldest first
    DATE_DESC = "-date"  # newest first


# What a list of results shows (search/services.py artwork_json, the result grid) and ranks by: a
# candidate list loads these columns alone, not descriptions and records of kilobytes each.
LISTED_FIELDS = (
    "id",
    "aic_id",
    "title",
    "artist_display",
    "date_display",
    "date_start",
    "image_id",
    "alt_text",
    "boost",
)


@dataclass(frozen=True)
class Hit:
    artwork: Artwork
    score: float
    keyword_rank: int | None = None  # 1-based place in the full-text list, None when not in it
    semantic_rank: int | None = None  # 1-based place in the vector list, None when not in it


@dataclass(frozen=True)
class SearchPage:
    """One page of results; ``has_next`` says whether another page follows."""

    model: EmbeddingModel | None
    hits: list[Hit]
    page: int
    page_size: int
    has_next: bool
    mode: Mode = Mode.HYBRID
    filters: SearchFilters = field(default_factory=SearchFilters)


def active_model() -> EmbeddingModel:
    model = EmbeddingModel.active()
    if model is None:
        raise SearchError("no active embedding model: the index is not ready", status=503)
    return model


def search_text(query: str, k: int) -> tuple[EmbeddingModel, list[Hit]]:
    """The k best artworks for ``query`` by meaning alone (the CLIP ranking)."""
    model = active_model()
    return model, nearest(model, embed_query(model, query), k)


def search(
    query: str,
    *,
    mode: Mode = Mode.HYBRID,
    filters: SearchFilters | None = None,
    page: int = 1,
    page_size: int = 24,
    sort: Sort = Sort.RELEVANCE,
) -> SearchPage:
    """One page of artworks for ``query``: ranked by ``mode``, narrowed by ``filters``, ordered by ``sort``.

    Date order re-sorts the SEARCH_SORT_WINDOW most relevant artworks, so a date-ordered page
    holds only artworks that answer the query, and every page sorts the same window.
    """
    filters = filters or SearchFilters()
    needed = page * page_size + 1  # one more than the page, to know whether a next page exists
    if needed - 1 > settings.SEARCH_MAX_RESULTS:
        raise SearchError(f"page {page} is past the first {settings.SEARCH_MAX_RESULTS} results")
    depth = needed if sort == Sort.RELEVANCE else settings.SEARCH_SORT_WINDOW
    started = time.perf_counter()
    model = None if mode == Mode.KEYWORD else active_model()
    if mode == Mode.KEYWORD:
        ranked = keyword_hits(query, depth, filters)
    elif mode == Mode.SEMANTIC:
        assert model is not None
        ranked = nearest(model, embed_query(model, query), depth, filters=filters)
    else:
        assert model is not None
        ranked = hybrid_hits(model, query, depth, filters)
    SEARCH_SECONDS.labels(mode=mode.value).observe(time.perf_counter() - started)
    if sort != Sort.RELEVANCE:
        ranked = sort_by_date(ranked, newest_first=sort == Sort.DATE_DESC)
    start = (page - 1) * page_size
    return SearchPage(
        model=model,
        hits=ranked[start : start + page_size],
        page=page,
        page_size=page_size,
        has_next=len(ranked) > start + page_size,
        mode=mode,
        filters=filters,
    )


def sort_by_date(hits: list[Hit], *, newest_first: bool) -> list[Hit]:
    """Order by start year (undated last), keeping relevance order among equal years."""
    dated = [hit for hit in hits if hit.artwork.date_start is not None]
    undated = [hit for hit in hits if hit.artwork.date_start is None]
    dated.sort(key=lambda hit: hit.artwork.date_start or 0, reverse=newest_first)
    return dated + undated


class MatchesQuery(Func):
    """document @@ tsquery: whether a full-text document matches a query."""

    template = "%(expressions)s"
    arg_joiner = " @@ "
    output_field = BooleanField()


def keyword_hits(query: str, k: int, filters: SearchFilters | None = None) -> list[Hit]:
    """The k visible artworks whose text best matches ``query``, best first (boosts added)."""
    ranked = text_matches(query, k, filters)
    hits = [Hit(artwork, rank + artwork.boost, keyword_rank=i) for i, (artwork, rank) in enumerate(ranked, 1)]
    return _by_score(hits)


def nearest(
    model: EmbeddingModel,
    vector: np.ndarray,
    k: int,
    exclude: int | None = None,
    filters: SearchFilters | None = None,
) -> list[Hit]:
    """The k visible artworks nearest to ``vector`` under ``model`` that pass ``filters``, best first.

    The score is the cosine similarity plus the curator's boost.
    """
    ranked = vector_neighbours(model, vector, k, exclude=exclude, filters=filters)
    hits = [
        Hit(artwork, similarity + artwork.boost, semantic_rank=i) for i, (artwork, similarity) in enumerate(ranked, 1)
    ]
    return _by_score(hits)


def hybrid_hits(model: EmbeddingModel, query: str, k: int, filters: SearchFilters | None = None) -> list[Hit]:
    """Keyword and vector rankings fused by weighted reciprocal rank fusion, best first."""
    depth = max(k, settings.SEARCH_HYBRID_CANDIDATES)
    # The text tower encodes the query while the database ranks the keyword list, which needs no vector.
    query_vector = embed_query_meanwhile(model, query)
    keyword = text_matches(query, depth, filters)
    semantic = vector_neighbours(model, query_vector.result(), depth, filters=filters)
    return fuse([artwork for artwork, _ in keyword], [artwork for artwork, _ in semantic])[:k]


def _by_score(hits: list[Hit]) -> list[Hit]:
    return sorted(hits, key=lambda hit: hit.score, reverse=True)


def text_matches(query: str, k: int, filters: SearchFilters | None = None) -> list[tuple[Artwork, float]]:
    """(artwork, keyword score) of the k visible artworks that best match ``query``, best first.

    Artworks holding more of the query's distinct words rank first, ts_rank orders those holding
    as many; the score, in [0, 1), says both: (words held + rank / (rank + 1)) / (words + 1).
    Ranking every artwork that holds any word costs a row read each, tens of thousands for a
    common word in a large catalog, so the artworks are read tier by tier: those holding all the
    words, then those holding at least all but one, and so on (``coverage_tiers``), until the k
    are found: the order is the same as ranking them all, and a tier below is never read. In the
    last tier, where each artwork still missing holds one word, a frequent word's matches come from
    its list of leaders (catalog/word_leaders.py), a page of them instead of all.
    """
    filters = filters or SearchFilters()
    found: list[tuple[Artwork, float]] = []
    with psycopg.Cursor(raw_connection()) as cursor:
        terms = query_terms(cursor, query)
        tiers = coverage_tiers(len(terms)) if terms else []
        any_word = words_tsquery(terms, 1)
        for above, held in zip([len(terms) + 1, *tiers], tiers, strict=False):
            # A tier below a skipped one holds artworks with different counts of words: count them.
            counts_words = above - held > 1
            # A tier matches the fewer than k artworks found above it too (cheaper than excluding
            # them row by row), so its k best hold at least the k still missing.
            seen = {artwork.pk for artwork, _ in found}
            values = {"any_word": any_word, "terms": terms, "held": float(held), "words": float(len(terms))}
            ranked = None
            if held == 1 and not counts_words:
                # Every artwork still missing holds exactly one of the words.
                ranked = _one_word_matches(cursor, terms, filters, k, values)
            if ranked is None:
                ranked = _text_statement(filters, k, counts_words=counts_words).run(
                    cursor, tier=words_tsquery(terms, held), **values
                )
            found += [(artwork, score) for artwork, score in ranked if artwork.pk not in seen][: k - len(found)]
            if len(found) >= k:
                break
    return found


def _one_word_matches(
    cursor: psycopg.Cursor[Any], terms: list[str], filters: SearchFilters, k: int, values: dict[str, Any]
) -> list[tuple[Artwork, float]] | None:
    """The k best artworks holding any of ``terms``, as the last tier's statement ranks them, with
    each frequent word's matches read from its leader list; None when there is no frequent word, or a
    list holds fewer than k artworks that pass ``filters`` (then every match must be ranked).

    An artwork holding one word ranks by that word's impact (catalog/word_leaders.py), so beyond a
    word's k first listed artworks none can enter the k best (those holding more words are found
    by then, in the tiers above). Two impacts so close that their scores round to one float order
    by impact here and by AIC id in the full ranking; ts_rank's weights keep impacts far apart.
    """
    with connection.wrap_database_errors:
        cursor.execute(f"SELECT lexeme FROM {_FREQUENT_WORDS} WHERE lexeme = ANY(%s)", [terms])
        frequent = {row[0] for row in cursor.fetchall()}
    if not frequent:
        return None
    ranked: list[tuple[Artwork, float]] = []
    for word in sorted(frequent):
        leaders = _leader_statement(filters, k).run(cursor, word=word, **values)
        if len(leaders) < k:
            KEYWORD_LEADER_READS.labels(outcome="ran_out").inc()
            return None
        ranked += leaders
    rare = [term for term in terms if term not in frequent]
    if rare:
        statement = _text_statement(filters, k, counts_words=False)
        ranked += statement.run(cursor, tier=words_tsquery(rare, 1), **values)
    KEYWORD_LEADER_READS.labels(outcome="read").inc()
    unique = {artwork.pk: (artwork, score) for artwork, score in ranked}
    return sorted(unique.values(), key=lambda pair: (-pair[1], pair[0].aic_id))[:k]


def query_terms(cursor: psycopg.Cursor[Any], query: str) -> list[str]:
    """The distinct lexemes full-text search reads from ``query`` (stemmed, stop words dropped)."""
    with connection.wrap_database_errors:
        cursor.execute("SELECT tsvector_to_array(to_tsvector(%s::regconfig, %s))", [SEARCH_CONFIG, query])
        row = cursor.fetchone()
    return list(row[0]) if row else []


# A tier's tsquery lists every set of that many words; past this many sets the tier is skipped
# (the next one down asks for fewer words, and the last, any word, is one set per word).
MAX_TIER_WORD_SETS = 64


def coverage_tiers(words: int) -> list[int]:
    """How many of the query's ``words`` each successive statement asks an artwork to hold."""
    return [held for held in range(words, 0, -1) if held in (1, words) or math.comb(words, held) <= MAX_TIER_WORD_SETS]


def words_tsquery(terms: list[str], held: int) -> str:
    """tsquery text matching documents that hold at least ``held`` of the lexemes ``terms``."""
    quoted = ["'" + term.replace("\\", "\\\\").replace("'", "''") + "'" for term in terms]
    if held == 1:
        return " | ".join(quoted)
    return " | ".join("(" + " & ".join(words) + ")" for words in itertools.combinations(quoted, held))


def words_held(document: F, terms: Expression) -> Expression:
    """How many of the lexemes ``terms`` (a text[]) the tsvector ``document`` holds."""
    lexemes = functools.partial(Func, function="length", output_field=FloatField())
    without_terms = Func(document, Cast(terms, ArrayField(TextField())), function="ts_delete")
    return lexemes(document) - lexemes(without_terms)


@functools.lru_cache(maxsize=256)
def _text_statement(filters: SearchFilters, k: int, *, counts_words: bool) -> ListingStatement:
    """The best k artworks holding at least ``held`` words, scored as holding ``held`` or, with
    ``counts_words``, as many as they hold."""
    matches = MatchesQuery(F("search_document"), Cast(Slot("tier", TextField()), SearchQueryField()))
    if counts_words:
        held: Expression = words_held(F("search_document"), Slot("terms", TextField()))
    else:
        held = Slot("held", FloatField())
    rows = (
        Artwork.objects.filter(matches, filters.as_q(), visible_q())
        .annotate(score=_keyword_score(F("search_document"), held))
        .order_by("-score", "aic_id")[:k]
    )
    return ListingStatement.compile(rows, "score", LISTED_FIELDS)


@functools.lru_cache(maxsize=256)
def _leader_statement(filters: SearchFilters, k: int) -> ListingStatement:
    """A frequent word's first k listed artworks that pass ``filters``, in the list's order, scored
    as ``_text_statement`` scores an artwork holding ``held`` words."""
    rows = (
        WordLeader.objects.filter(filters.as_q("artwork__"), visible_q("artwork__"), lexeme=Slot("word", TextField()))
        .annotate(score=_keyword_score(F("artwork__search_document"), Slot("held", FloatField())))
        .order_by("-impact", "aic_id")
        .select_related("artwork")[:k]
    )
    return ListingStatement.compile(rows, "score", LISTED_FIELDS, prefix="artwork__")


def _keyword_score(document: F, held: Expression) -> Expression:
    """(words held + ts_rank / (ts_rank + 1)) / (words + 1), in [0, 1).

    ts_rank without length normalisation (a long description does not dilute the words it holds),
    as rank / (rank + 1) (normalisation 32), computed once per row.
    """
    rank = SearchRank(document, Cast(Slot("any_word", TextField()), SearchQueryField()), normalization=32)
    return (held + rank) / (Slot("words", FloatField()) + 1.0)


def vector_neighbours(
    model: EmbeddingModel,
    vector: np.ndarray,
    k: int,
    exclude: int | None = None,
    filters: SearchFilters | None = None,
) -> list[tuple[Artwork, float]]:
    """(artwork, cosine similarity) of the k visible artworks nearest to ``vector``, best first.

    pgvector 0.8's iterative index scan keeps walking the HNSW graph while filters drop
    candidates, so a selective filter still gets k results (up to hnsw.max_scan_tuples). A walk
    for a department or type reaches its members late and out of order, so it goes on for
    SEARCH_FILTER_EXTRA_CANDIDATES more, and the k nearest of them are kept.
    """
    filters = filters or SearchFilters()
    if filters.excludes_vectors:
        return []
    exact = few_enough_to_rank_all(filters)
    walked = k + settings.SEARCH_FILTER_EXTRA_CANDIDATES if is_selective(filters) and not exact else k
    statement = _neighbour_statement(model, model.dimension, filters, exact, exclude, walked)
    with vector_cursor(raw_connection()) as cursor:
        # A walk's candidate list holds at least twice the rows it must return: hybrid's 100 vector
        # candidates keep the recall@100 of a list of 200 (0.985 at 100k; 150 gives 0.976).
        ef_search = min(_MAX_EF_SEARCH, max(settings.HNSW_EF_SEARCH, 2 * walked))
        _use_hnsw_settings(cursor, ef_search=ef_search)
        ranked = [
            (artwork, 1.0 - distance)
            for artwork, distance in statement.run(cursor, vector=np.asarray(vector, dtype=np.float32))
        ]
    # relaxed_order, and the index's half precision, may return neighbours slightly out of float32's order.
    return sorted(ranked, key=lambda pair: pair[1], reverse=True)[:k]


def neighbour_rows(
    model: EmbeddingModel, vector: np.ndarray | Expression, filters: SearchFilters, *, exact: bool
) -> QuerySet[ArtworkEmbedding]:
    """Vectors of visible artworks that pass ``filters``, nearest first, as ``distance``.

    Walked through the model's HNSW index, or with ``exact`` every candidate ranked: the index
    cannot order by a distance plus zero, so the planner finds the candidates through the
    filters' own indexes instead. The walk orders by the index's half-precision distance; the
    ``distance`` given is float32's either way.
    """
    distance: Any = CosineDistance(Cast("vector", VectorField(dimensions=model.dimension)), vector)
    if exact:
        distance = ExpressionWrapper(distance + Value(0.0), output_field=FloatField())
    order = "distance" if exact else model.index_distance(vector)
    return (
        ArtworkEmbedding.objects.filter(filters.as_q("artwork__"), visible_q("artwork__"), model=model)
        .annotate(distance=distance)
        .order_by(order)
        .select_related("artwork")
        .only("id", "artwork", *(f"artwork__{name}" for name in LISTED_FIELDS))
    )


@functools.lru_cache(maxsize=256)
def _neighbour_statement(
    model: EmbeddingModel, dimension: int, filters: SearchFilters, exact: bool, exclude: int | None, k: int
) -> ListingStatement:
    # ``dimension`` is part of the key: a model instance compares by primary key alone.
    assert dimension == model.dimension
    rows = neighbour_rows(model, Slot("vector", VectorField()), filters, exact=exact)
    if exclude is not None:
        rows = rows.exclude(artwork_id=exclude)
    return ListingStatement.compile(rows[:k], "distance", LISTED_FIELDS, prefix="artwork__")


# What a connection's session holds for hnsw.ef_search (hnsw.iterative_scan set alongside it).
_session_ef_search: weakref.WeakKeyDictionary[psycopg.Connection[Any], int] = weakref.WeakKeyDictionary()


def _use_hnsw_settings(cursor: psycopg.Cursor[Any], *, ef_search: int) -> None:
    """Make the next index scan on the cursor's connection walk ``ef_search`` candidates, iteratively
    in relaxed order.

    Outside a transaction the settings are made once for the connection's session (a transaction
    and two SET LOCALs per search cost about a millisecond); inside one they last until it ends.
    """
    raw = cursor.connection
    if _session_ef_search.get(raw) == ef_search:
        return
    for_session = connection.get_autocommit()
    with connection.wrap_database_errors:
        cursor.execute(
            "SELECT set_config('hnsw.ef_search', %s, %s), set_config('hnsw.iterative_scan', 'relaxed_order', %s)",
            [str(ef_search), not for_session, not for_session],
        )
    if for_session:
        _session_ef_search[raw] = ef_search


def is_selective(filters: SearchFilters) -> bool:
    """Whether ``filters`` name a department or type: a small share of a catalog, not a half of it."""
    return bool(filters.department or filters.artwork_type)


def few_enough_to_rank_all(filters: SearchFilters) -> bool:
    """Whether a department or type filter leaves at most SEARCH_EXACT_SCAN_MAX artworks.

    Then vector search ranks every one of them: an HNSW walk, even an iterative one, reaches the
    members of a small group late and can miss some (pgvector's advice for selective filters).
    Other filters keep a large share of the catalog and stay on the index.
    """
    limit = settings.SEARCH_EXACT_SCAN_MAX
    if limit <= 0 or not is_selective(filters):
        return False
    # Counted through the upper(…) indexes, and never past the limit.
    return candidate_artworks(filters)[: limit + 1].count() <= limit


def candidate_artworks(filters: SearchFilters) -> QuerySet[Artwork]:
    """The visible artworks that pass ``filters``, in no order (so an index on a filter can find them)."""
    return Artwork.objects.filter(filters.as_q(), visible_q()).order_by()


def fuse(keyword: list[Artwork], semantic: list[Artwork]) -> list[Hit]:
    """Weighted reciprocal rank fusion of two rankings (each best first), plus curator boosts."""
    rrf_k = settings.SEARCH_RRF_K
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
        score = artwork.boost * settings.SEARCH_BOOST_WEIGHT / (rrf_k + 1)
        if pk in keyword_rank:
            score += settings.SEARCH_KEYWORD_WEIGHT / (rrf_k + keyword_rank[pk])
        if pk in semantic_rank:
            score += settings.SEARCH_SEMANTIC_WEIGHT / (rrf_k + semantic_rank[pk])
        fused.append(Hit(artwork, score, keyword_rank.get(pk), semantic_rank.get(pk)))
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


def similar_artworks(
    artwork: Artwork, k: int, filters: SearchFilters | None = None
) -> tuple[EmbeddingModel, list[Hit]]:
    """Artworks whose image vectors are nearest to this artwork's (image-to-image)."""
    model = active_model()
    embedding = ArtworkEmbedding.objects.filter(model=model, artwork=artwork).only("vector").first()
    if embedding is None:
        raise SearchError(f"artwork {artwork.aic_id} has no vector under model {model.name} yet", status=404)
    return model, nearest(model, np.asarray(embedding.vector), k, exclude=artwork.pk, filters=filters)
