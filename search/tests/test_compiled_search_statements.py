"""Searches run once-compiled statements (the vector in binary) that find what the ORM queries find,
under the HNSW settings they ask for."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
import pytest
from django.db import OperationalError, connection, transaction

from catalog.models import Artwork, visible_q
from embeddings.encoders.per_process import get_text_encoder
from search.filters import SearchFilters
from search.keyword import text_matches
from search.vector import neighbour_rows, vector_neighbours

pytestmark = pytest.mark.django_db(transaction=True)


def _setting(name: str) -> str | None:
    """The session's value, None before pgvector is loaded into it (its defaults apply)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [name])
        value = cursor.fetchone()[0]
        return None if value is None else str(value)


def _query(model: Any, text: str) -> np.ndarray:
    return np.asarray(get_text_encoder(model).encode([text])[0])


@pytest.mark.parametrize(
    ("filters", "exclude"),
    [
        (SearchFilters(), None),
        (SearchFilters(is_public_domain=True), None),
        (SearchFilters(department="Painting and Sculpture of Europe"), None),  # exact search
        (SearchFilters(date_from=1800, date_to=1900), "first"),
    ],
)
def test_it_finds_what_the_orm_query_finds(
    indexed: list[Artwork], embedding_model: Any, filters: SearchFilters, exclude: str | None
) -> None:
    vector = _query(embedding_model, "a harbour with boats")
    excluded = indexed[0].pk if exclude else None
    for _ in range(2):  # compiled on the first search, reused on the second
        found = vector_neighbours(embedding_model, vector, 8, exclude=excluded, filters=filters)
        rows = neighbour_rows(embedding_model, vector, filters, exact=False)
        if excluded is not None:
            rows = rows.exclude(artwork_id=excluded)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL hnsw.ef_search = 1000")
            expected = [(row.artwork, 1.0 - row.distance) for row in rows[:8]]  # type: ignore[attr-defined]
        assert [artwork.pk for artwork, _ in found] == [artwork.pk for artwork, _ in expected]
        assert [score for _, score in found] == pytest.approx([score for _, score in expected], abs=1e-6)
        for (artwork, _), (orm_artwork, _) in zip(found, expected, strict=True):
            assert (artwork.title, artwork.aic_id, artwork.image_id, artwork.boost, artwork.date_start) == (
                orm_artwork.title,
                orm_artwork.aic_id,
                orm_artwork.image_id,
                orm_artwork.boost,
                orm_artwork.date_start,
            )
            assert not artwork._state.adding  # a loaded row, as the ORM would give
    assert excluded is None or excluded not in {artwork.pk for artwork, _ in found}


def _shown(artwork: Artwork) -> tuple[Any, ...]:
    return (artwork.pk, artwork.aic_id, artwork.title, artwork.artist_display, artwork.image_id, artwork.date_start)


@pytest.mark.parametrize("filters", [SearchFilters(), SearchFilters(is_public_domain=True)])
def test_full_text_rows_are_the_artworks_the_orm_loads(indexed: list[Artwork], filters: SearchFilters) -> None:
    # Which artworks, in which order: test_keyword_ranking_by_words_held.py.
    matched = 0
    for query in ("portrait of a woman", "a landscape painting", "no such wordzz"):
        for _ in range(2):  # compiled on the first search, reused on the second
            found = text_matches(query, 10, filters)
            loaded = Artwork.objects.in_bulk([artwork.pk for artwork, _ in found])
            assert [_shown(artwork) for artwork, _ in found] == [_shown(loaded[artwork.pk]) for artwork, _ in found]
            assert all(not artwork._state.adding for artwork, _ in found)
            passing = Artwork.objects.filter(filters.as_q(), visible_q(), pk__in=loaded)
            assert set(passing.values_list("pk", flat=True)) == set(loaded)
            assert all(0 < score < 1 for _, score in found)
            matched += len(found)
    assert matched > 0


def test_outside_a_transaction_the_settings_stay_with_the_connection(
    indexed: list[Artwork], embedding_model: Any, settings: Any
) -> None:
    vector = _query(embedding_model, "a portrait")
    connection.close()  # a fresh session: pgvector's own defaults
    assert _setting("hnsw.ef_search") is None
    vector_neighbours(embedding_model, vector, 5)
    assert _setting("hnsw.ef_search") == str(settings.HNSW_EF_SEARCH)
    assert _setting("hnsw.iterative_scan") == "relaxed_order"
    settings.HNSW_EF_SEARCH = 123  # a changed setting reaches the session on the next search
    vector_neighbours(embedding_model, vector, 5)
    assert _setting("hnsw.ef_search") == "123"
    vector_neighbours(embedding_model, vector, 100)  # a deeper search widens the walk to twice its depth
    assert _setting("hnsw.ef_search") == "200"
    vector_neighbours(embedding_model, vector, 700)  # up to pgvector's limit
    assert _setting("hnsw.ef_search") == "1000"


def test_inside_a_transaction_the_settings_end_with_it(
    indexed: list[Artwork], embedding_model: Any, settings: Any
) -> None:
    vector = _query(embedding_model, "a portrait")
    connection.close()
    with transaction.atomic():
        vector_neighbours(embedding_model, vector, 5)
        assert _setting("hnsw.ef_search") == str(settings.HNSW_EF_SEARCH)
        assert _setting("hnsw.iterative_scan") == "relaxed_order"
    assert _setting("hnsw.ef_search") == "40"
    assert _setting("hnsw.iterative_scan") == "off"
    vector_neighbours(embedding_model, vector, 5)  # and the next search outside one sets them again
    assert _setting("hnsw.ef_search") == str(settings.HNSW_EF_SEARCH)


def test_a_lost_connection_is_djangos_error_and_the_next_search_reconnects(
    indexed: list[Artwork], embedding_model: Any, test_database_url: str
) -> None:
    vector = _query(embedding_model, "a portrait")
    expected = [artwork.pk for artwork, _ in vector_neighbours(embedding_model, vector, 5)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with psycopg.connect(test_database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(OperationalError):  # Django's class: its request cycle then drops the connection
        vector_neighbours(embedding_model, vector, 5)
    assert connection.errors_occurred
    connection.close_if_unusable_or_obsolete()  # what Django does when the request ends
    assert [artwork.pk for artwork, _ in vector_neighbours(embedding_model, vector, 5)] == expected
