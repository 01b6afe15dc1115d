"""A department or type filter that leaves few artworks is answered by exact search over them, not the HNSW walk."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.db import connection, transaction

from catalog.models import Artwork, visible_q
from embeddings.encoders.per_process import get_text_encoder
from embeddings.models import ArtworkEmbedding
from search.filters import SearchFilters
from search.vector import candidate_artworks, few_enough_to_rank_all, neighbour_rows, vector_neighbours

pytestmark = pytest.mark.django_db(transaction=True)


def _exact_order(model: Any, vector: np.ndarray, department: str) -> list[int]:
    """Every artwork of the department with a vector, nearest first, by numpy."""
    rows = ArtworkEmbedding.objects.filter(model=model, artwork__department_title__iexact=department)
    scored = [
        (float(np.dot(np.asarray(row.vector), vector)), row.artwork.aic_id) for row in rows.select_related("artwork")
    ]
    return [aic_id for _, aic_id in sorted(scored, reverse=True)]


def test_every_department_is_ranked_exactly(collection: list[Artwork], embedding_model: Any, settings: Any) -> None:
    vector = get_text_encoder(embedding_model).encode(["a portrait of a woman"])[0]
    departments = set(Artwork.objects.exclude(image_id="").values_list("department_title", flat=True)) - {""}
    assert len(departments) >= 3
    for department in departments:
        filters = SearchFilters(department=department.lower())  # any case, as the API takes it
        expected = _exact_order(embedding_model, vector, department)
        found = vector_neighbours(embedding_model, vector, len(expected), filters=filters)
        assert [artwork.aic_id for artwork, _ in found] == expected, department


def test_it_finds_what_a_short_hnsw_walk_misses(collection: list[Artwork], embedding_model: Any, settings: Any) -> None:
    vector = get_text_encoder(embedding_model).encode(["a portrait of a woman"])[0]
    europe = SearchFilters(department="Painting and Sculpture of Europe")  # 7 of 279 images
    expected = _exact_order(embedding_model, vector, europe.department or "")
    settings.HNSW_EF_SEARCH = 1
    settings.SEARCH_FILTER_EXTRA_CANDIDATES = 0  # the walk's list: twice the 7 rows asked for
    with transaction.atomic(), connection.cursor() as cursor:
        # As on a large collection: the index is the cheaper plan, and its walk stops after 20 vectors.
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL hnsw.max_scan_tuples = 20")
        settings.SEARCH_EXACT_SCAN_MAX = 0
        walked = [artwork.aic_id for artwork, _ in vector_neighbours(embedding_model, vector, 7, filters=europe)]
        settings.SEARCH_EXACT_SCAN_MAX = 5_000
        ranked = [artwork.aic_id for artwork, _ in vector_neighbours(embedding_model, vector, 7, filters=europe)]
    assert walked != expected
    assert ranked == expected


def test_the_exact_search_does_not_use_the_hnsw_index(collection: list[Artwork], embedding_model: Any) -> None:
    vector = get_text_encoder(embedding_model).encode(["a harbour"])[0]
    filters = SearchFilters(department="Painting and Sculpture of Europe")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")  # as on a large table: the index would win if it could
        assert (
            embedding_model.hnsw_index_name in neighbour_rows(embedding_model, vector, filters, exact=False).explain()
        )
        exact_plan = neighbour_rows(embedding_model, vector, filters, exact=True)[:10].explain()
        assert embedding_model.hnsw_index_name not in exact_plan
        cursor.execute("SET LOCAL enable_seqscan = off")  # 315 rows are cheaper to scan than to look up
        assert "artwork_department_upper" in candidate_artworks(filters)[:20_001].explain()


def test_only_small_department_or_type_filters_rank_all(collection: list[Artwork], settings: Any) -> None:
    europe = SearchFilters(department="Painting and Sculpture of Europe")  # 7 artworks with images, more without
    members = Artwork.objects.filter(europe.as_q(), visible_q()).count()
    settings.SEARCH_EXACT_SCAN_MAX = members
    assert few_enough_to_rank_all(europe)
    assert few_enough_to_rank_all(SearchFilters(artwork_type="painting", department="Painting and Sculpture of Europe"))
    settings.SEARCH_EXACT_SCAN_MAX = members - 1
    assert not few_enough_to_rank_all(europe)
    settings.SEARCH_EXACT_SCAN_MAX = 5_000
    assert not few_enough_to_rank_all(SearchFilters(is_public_domain=True))  # a large share: the index
    assert not few_enough_to_rank_all(SearchFilters())
    settings.SEARCH_EXACT_SCAN_MAX = 0
    assert not few_enough_to_rank_all(europe)
