"""Ranking artworks against a query vector with pgvector's HNSW index."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import Cast
from pgvector.django import CosineDistance, VectorField

from catalog.models import Artwork
from embeddings.clip import get_text_encoder
from embeddings.models import ArtworkEmbedding, EmbeddingModel


class SearchError(Exception):
    """A search that cannot be answered; ``status`` is the HTTP status to send."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Hit:
    artwork: Artwork
    score: float


def active_model() -> EmbeddingModel:
    model = EmbeddingModel.active()
    if model is None:
        raise SearchError("no active embedding model: the index is not ready", status=503)
    return model


def embed_query(model: EmbeddingModel, query: str) -> np.ndarray:
    return get_text_encoder(model).encode([query])[0]


def search_text(query: str, k: int) -> tuple[EmbeddingModel, list[Hit]]:
    model = active_model()
    return model, nearest(model, embed_query(model, query), k)


def similar_artworks(artwork: Artwork, k: int) -> tuple[EmbeddingModel, list[Hit]]:
    """Artworks whose image vectors are nearest to this artwork's (image-to-image)."""
    model = active_model()
    embedding = ArtworkEmbedding.objects.filter(model=model, artwork=artwork).only("vector").first()
    if embedding is None:
        raise SearchError(f"artwork {artwork.aic_id} has no vector under model {model.name} yet", status=404)
    return model, nearest(model, np.asarray(embedding.vector), k, exclude=artwork.pk)


def nearest(model: EmbeddingModel, vector: np.ndarray, k: int, exclude: int | None = None) -> list[Hit]:
    """The k visible artworks nearest to ``vector`` under ``model``, best first."""
    # The cast matches the model's partial HNSW index expression, so the planner can use it.
    distance = CosineDistance(Cast("vector", VectorField(dimensions=model.dimension)), vector)
    queryset = (
        ArtworkEmbedding.objects.filter(model=model, artwork__is_hidden=False)
        .annotate(distance=distance)
        .order_by("distance")
        .select_related("artwork")
    )
    if exclude is not None:
        queryset = queryset.exclude(artwork_id=exclude)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Iterative scans keep returning candidates when filters (hidden artworks) drop some.
            cursor.execute("SET LOCAL hnsw.ef_search = %s", [max(settings.HNSW_EF_SEARCH, k)])
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        rows = list(queryset[:k])
    hits = [Hit(row.artwork, 1.0 - float(row.distance) + row.artwork.boost) for row in rows]
    # relaxed_order may return neighbours slightly out of order; boosts also move scores.
    return sorted(hits, key=lambda hit: hit.score, reverse=True)
