"""Vectors live in the embedding table's own rows, not its TOAST table, up to the largest dimension allowed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.db import connection

from catalog.harvest import sync_from_api
from catalog.models import Artwork
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from embeddings.pipeline import upsert_vectors

pytestmark = pytest.mark.django_db(transaction=True)


def _toast_bytes() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            # The table's rows are in its partitions, one a model.
            "SELECT coalesce(sum(pg_relation_size(c.reltoastrelid)), 0) FROM pg_partition_tree(%s::regclass) t "
            "JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf",
            [ArtworkEmbedding._meta.db_table],
        )
        return int(cursor.fetchone()[0])


@pytest.mark.parametrize("dimension", [512, 768, 2000])
def test_vectors_stay_in_their_rows(aic: Any, dimension: int) -> None:
    sync_from_api(limit=5)
    artworks = list(Artwork.objects.exclude(image_id="").order_by("pk"))
    model = EmbeddingModel.objects.create(name=f"wide-{dimension}", architecture="ViT-B-32", dimension=dimension)
    vectors = np.random.default_rng(dimension).standard_normal((len(artworks), dimension)).astype(np.float32)
    upsert_vectors(model, list(zip(artworks, vectors, strict=True)))
    stored = {row.artwork_id: np.asarray(row.vector) for row in ArtworkEmbedding.objects.filter(model=model)}
    assert len(stored) == len(artworks)
    for artwork, vector in zip(artworks, vectors, strict=True):
        # The ORM reads vectors as text: float32's shortest decimals, exact once back in float32.
        np.testing.assert_array_equal(stored[artwork.pk].astype(np.float32), vector)
    assert _toast_bytes() == 0  # out of line, each vector (and image id) would have taken a TOAST chunk
