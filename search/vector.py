"""Vector ranking: the CLIP vectors nearest to a query's, through pgvector's HNSW index or, for a
selective filter, by ranking every candidate.

The score is the cosine similarity plus the curator's boost. Each index walk's HNSW settings
(``hnsw.ef_search``, ``hnsw.iterative_scan``) are set on its connection's session, or with
``SET LOCAL`` inside the search's transaction behind a pooler in transaction mode
(docs/database.md); similar artworks are the neighbours of an artwork's own image vector.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Expression, ExpressionWrapper, FloatField, QuerySet, Value
from django.db.models.functions import Cast
from django.utils.translation import gettext as _
from pgvector.django import CosineDistance, VectorField

from catalog.models import Artwork, visible_q
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from embeddings.vector_sql import raw_connection, vector_cursor
from search.filters import SearchFilters
from search.statements import LISTED_FIELDS, ListingStatement, Slot
from search.types import Hit, SearchError, by_score

# pgvector refuses hnsw.ef_search above 1000; iterative scans go on past it.
_MAX_EF_SEARCH = 1000


def active_model() -> EmbeddingModel:
    model = EmbeddingModel.active()
    if model is None:
        raise SearchError(_("no active embedding model: the index is not ready"), status=503)
    return model


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
        Hit(artwork, similarity + artwork.boost, semantic_rank=i, similarity=similarity)
        for i, (artwork, similarity) in enumerate(ranked, 1)
    ]
    return by_score(hits)


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
    with _hnsw_scope(), vector_cursor(raw_connection()) as cursor:
        # A walk's candidate list holds at least twice the rows it must return: a list barely longer
        # than the rows misses neighbours that exact search finds, and one of twice the rows keeps
        # nearly all of them (bench.search measures recall against exact search).
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


def _hnsw_scope() -> AbstractContextManager[Any]:
    """Where a walk's HNSW settings hold: the connection's session, or behind a pooler in transaction
    mode (DATABASE_POOLER) the search's own transaction. There a session is a server connection that
    the pooler lends to one transaction at a time: a setting made for it would reach whichever client
    is lent it next, and the search's statements could run on another one."""
    if settings.DATABASE_POOLER == "pgbouncer-transaction":
        return transaction.atomic()
    return nullcontext()


# What a connection's session holds for hnsw.ef_search (hnsw.iterative_scan set alongside it).
_session_ef_search: weakref.WeakKeyDictionary[psycopg.Connection[Any], int] = weakref.WeakKeyDictionary()


def _use_hnsw_settings(cursor: psycopg.Cursor[Any], *, ef_search: int) -> None:
    """Make the next index scan on the cursor's connection walk ``ef_search`` candidates, iteratively
    in relaxed order.

    Outside a transaction the settings are made once for the connection's session (a transaction
    and two SET LOCALs on every search would be round trips of their own, as costly as a fast index
    scan: bench.ranking_ab measures a search side by side); inside one they last until it ends.
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


@contextmanager
def walking_cursor() -> Iterator[psycopg.Cursor[Any]]:
    """A vector cursor whose index scans walk on, iteratively, until their LIMIT is met (a list deeper
    than ef_search): with the ef_search the connection's session holds when it holds one, so the
    search that ran before on it costs no round trip more."""
    with _hnsw_scope(), vector_cursor(raw_connection()) as cursor:
        ef_search = _session_ef_search.get(cursor.connection, settings.HNSW_EF_SEARCH)
        _use_hnsw_settings(cursor, ef_search=ef_search)
        yield cursor


def is_selective(filters: SearchFilters) -> bool:
    """Whether ``filters`` pick values (a department, a type, an artist…): a small share of a catalog."""
    return filters.picks_values


def few_enough_to_rank_all(filters: SearchFilters) -> bool:
    """Whether a department, type or value filter leaves at most SEARCH_EXACT_SCAN_MAX artworks.

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


def image_vectors(model: EmbeddingModel, artwork_pks: list[int]) -> dict[int, np.ndarray]:
    """The image vectors of these artworks under ``model``, by artwork primary key (one query)."""
    rows = ArtworkEmbedding.objects.filter(model=model, artwork_id__in=artwork_pks).values_list("artwork_id", "vector")
    return {artwork_pk: np.asarray(vector, dtype=np.float32) for artwork_pk, vector in rows}


def similar_artworks(
    artwork: Artwork, k: int, filters: SearchFilters | None = None
) -> tuple[EmbeddingModel, list[Hit]]:
    """Artworks whose image vectors are nearest to this artwork's (image-to-image)."""
    model = active_model()
    embedding = ArtworkEmbedding.objects.filter(model=model, artwork=artwork).only("vector").first()
    if embedding is None:
        shown = {"aic_id": artwork.aic_id, "model": model.name}
        raise SearchError(_("artwork %(aic_id)s has no vector under model %(model)s yet") % shown, status=404)
    return model, nearest(model, np.asarray(embedding.vector), k, exclude=artwork.pk, filters=filters)
