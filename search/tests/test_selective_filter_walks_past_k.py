"""A department or type filter too large for exact search walks the index past the k asked for and keeps the k nearest."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from django.db import connection, transaction

from catalog.models import Artwork
from embeddings.encoders.per_process import get_text_encoder
from embeddings.models import ArtworkEmbedding
from search.filters import SearchFilters
from search.vector import vector_neighbours

pytestmark = pytest.mark.django_db(transaction=True)

QUERIES = ["a portrait of a woman", "a stormy sea", "a vase with flowers", "a city street", "a horse", "gold", "snow"]
K = 2


def _nearest_members(model: Any, vector: np.ndarray, field: str, value: str) -> list[int]:
    """The K nearest artworks whose ``field`` is ``value``, by float32 cosine similarity (numpy)."""
    rows = ArtworkEmbedding.objects.filter(model=model, **{f"artwork__{field}": value}).select_related("artwork")
    scored = sorted(((float(np.dot(np.asarray(row.vector), vector)), row.artwork.aic_id) for row in rows), reverse=True)
    return [aic_id for _, aic_id in scored[:K]]


def test_the_k_nearest_members_of_a_walked_group(
    collection: list[Artwork], embedding_model: Any, settings: Any
) -> None:
    settings.SEARCH_EXACT_SCAN_MAX = 0  # every department and type walks the HNSW index
    settings.HNSW_EF_SEARCH = 1  # the walk's list is then twice its K + 30 rows: members come as the graph meets them
    settings.SEARCH_FILTER_EXTRA_CANDIDATES = 30
    # Groups the walk reaches every member of (K + 30 at most), so their K nearest are then exact.
    groups = [
        (field, filter_name, value)
        for field, filter_name in (("department_title", "department"), ("artwork_type_title", "artwork_type"))
        for value, size in Counter(
            ArtworkEmbedding.objects.filter(model=embedding_model).values_list(f"artwork__{field}", flat=True)
        ).items()
        if value and K < size <= K + 30
    ]
    assert len(groups) >= 3
    encoder = get_text_encoder(embedding_model)
    for query in QUERIES:
        vector = encoder.encode([query])[0]
        for field, filter_name, value in groups:
            found = vector_neighbours(embedding_model, vector, K, filters=SearchFilters(**{filter_name: value}))
            expected = _nearest_members(embedding_model, vector, field, value)
            assert [artwork.aic_id for artwork, _ in found] == expected, (query, value)


def test_the_walk_reads_past_the_kth_member(collection: list[Artwork], embedding_model: Any, settings: Any) -> None:
    settings.SEARCH_EXACT_SCAN_MAX = 0
    europe = SearchFilters(department="Painting and Sculpture of Europe")  # 7 of 279 images
    vector = get_text_encoder(embedding_model).encode(["a portrait of a woman"])[0]

    def vectors_read(extra: int) -> int:
        settings.SEARCH_FILTER_EXTRA_CANDIDATES = extra
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_sort = off")  # as on a large collection: the index is the cheaper plan
            counted = "SELECT coalesce(sum(idx_tup_fetch), 0) FROM pg_stat_xact_user_tables WHERE relname = %s"
            cursor.execute(counted, [embedding_model.partition_name])  # the model's vectors' own table
            before = int(cursor.fetchone()[0])
            assert len(vector_neighbours(embedding_model, vector, K, filters=europe)) == K
            cursor.execute(counted, [embedding_model.partition_name])
            return int(cursor.fetchone()[0]) - before

    # Without extra candidates the walk stops at the K-th member; with them it goes on to the 7th.
    assert vectors_read(30) > vectors_read(0) >= K
