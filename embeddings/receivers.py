"""Reactions to catalog and model changes."""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from catalog.signals import artworks_need_embedding
from embeddings.indexing import enqueue_embedding
from embeddings.models import EmbeddingModel

logger = logging.getLogger(__name__)


@receiver(artworks_need_embedding)
def queue_for_active_model(sender: Any, artwork_ids: list[int], **kwargs: Any) -> None:
    model = EmbeddingModel.active()
    if model is None:
        logger.info("no active model: %d artworks wait for `embed_missing`", len(artwork_ids))
        return
    enqueue_embedding(artwork_ids, model)
