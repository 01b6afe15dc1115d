"""The activation's pass: embed, batch by batch in primary-key order, what lacks a vector under the candidate."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings

from embeddings.activation.status import ActivationStatus
from embeddings.images.iiif_cache import ImageCache
from embeddings.indexing import artworks_missing_vectors
from embeddings.models import EmbeddingModel


def embed_pass(
    candidate: EmbeddingModel,
    status: ActivationStatus,
    resume_after: int,
    budget_seconds: float | None,
    on_batch: Callable[[], None],
) -> int:
    """Embed missing artworks after ``resume_after``, batch by batch; returns the last pk handled."""
    from embeddings.pipeline import embed_artworks  # PyTorch: in the worker that embeds, not in web processes

    started = time.monotonic()
    status.embedding_since = status.embedding_since or time.time()
    cache = ImageCache.from_settings()
    batch_size = settings.EMBED_BATCH_SIZE
    while budget_seconds is None or time.monotonic() - started < budget_seconds:
        after = artworks_missing_vectors(candidate).filter(pk__gt=resume_after).order_by("pk")
        batch = list(after.values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        deadline = None if budget_seconds is None else started + budget_seconds
        result = embed_artworks(batch, candidate, cache=cache, deadline=deadline)
        handled = [pk for pk in batch if pk < min(result.remaining)] if result.remaining else batch
        if not handled:
            break  # the budget ran out before this batch began: the next step starts with it
        resume_after = handled[-1]
        status.done += len(handled)
        status.to_embed = max(status.to_embed, status.done)  # artworks that arrived meanwhile join the pass
        status.embedded += len(result.embedded)
        status.failed += len(result.failed)
        on_batch()
    return resume_after


def more_to_embed(candidate: EmbeddingModel, resume_after: int) -> bool:
    """Whether artworks after ``resume_after`` still lack a vector under ``candidate``."""
    return artworks_missing_vectors(candidate).filter(pk__gt=resume_after).exists()
