"""Deleting a retired model's vectors, failures and HNSW index."""

from __future__ import annotations

import logging

from embeddings.activation.errors import ActivationError
from embeddings.activation.states import IN_PROGRESS
from embeddings.activation.status import activation_status
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel

logger = logging.getLogger(__name__)


def prune_vectors(model: EmbeddingModel) -> int:
    """Delete an inactive model's vectors, failures and HNSW index; returns the number of vectors deleted.

    The model stays registered: activating it again embeds everything anew.
    """
    model.refresh_from_db()
    if model.is_active:
        raise ActivationError(f"{model.name} is the active model: activate another one before pruning it")
    current = activation_status(model)
    if current is not None and current.state in IN_PROGRESS:
        raise ActivationError(f"{model.name} is being activated: prune it once that ends")
    model.drop_index()  # deleting rows from a table without the index is much cheaper
    vectors, _ = ArtworkEmbedding.objects.filter(model=model).delete()
    EmbeddingFailure.objects.filter(model=model).delete()
    logger.info("pruned %d vectors of model %s", vectors, model.name)
    return vectors
