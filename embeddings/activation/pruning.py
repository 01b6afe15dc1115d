"""Deleting a retired model's vectors (its partition, with its HNSW index) and failures."""

from __future__ import annotations

import logging

from embeddings.activation.errors import ActivationError
from embeddings.activation.states import IN_PROGRESS
from embeddings.activation.status import activation_status
from embeddings.models import EmbeddingFailure, EmbeddingModel

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
    # Dropping the partition frees its space at once, where deleting its rows would leave them to vacuum.
    vectors = model.drop_partition()
    model.ensure_partition()  # empty, for the vectors of a later activation
    EmbeddingFailure.objects.filter(model=model).delete()
    logger.info("pruned %d vectors of model %s", vectors, model.name)
    return vectors
