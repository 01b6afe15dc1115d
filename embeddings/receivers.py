"""Reactions to catalog and model changes."""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from catalog.signals import artworks_need_embedding, artworks_withdrawn
from embeddings.images.iiif_cache import ImageCache
from embeddings.indexing import enqueue_embedding
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel

logger = logging.getLogger(__name__)


@receiver(artworks_need_embedding)
def queue_for_active_model(sender: Any, artwork_ids: list[int], **kwargs: Any) -> None:
    model = EmbeddingModel.active()
    if model is None:
        logger.info("no active model: %d artworks wait for `embed_missing`", len(artwork_ids))
        return
    enqueue_embedding(artwork_ids, model)


@receiver(artworks_withdrawn)
def forget_withdrawn(sender: Any, artwork_ids: list[int], image_ids: list[str], **kwargs: Any) -> None:
    """A withdrawn artwork keeps no vector under any model and no failure. Its cached image files go
    where this process reaches them; the sweep removes them on every other host."""
    vectors, _ = ArtworkEmbedding.objects.filter(artwork_id__in=artwork_ids).delete()
    EmbeddingFailure.objects.filter(artwork_id__in=artwork_ids).delete()
    cache = ImageCache.from_settings()
    files = sum(cache.remove(image_id) for image_id in image_ids)
    logger.info("withdrawn: %d artworks, %d vectors and %d cached files deleted", len(artwork_ids), vectors, files)
