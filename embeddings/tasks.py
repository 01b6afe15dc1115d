from __future__ import annotations

from celery import shared_task

from embeddings.models import EmbeddingModel
from embeddings.pipeline import embed_artworks


@shared_task
def embed_artworks_task(artwork_ids: list[int], model_id: int) -> dict[str, object]:
    """Embed one batch of artworks under one model (idempotent: redelivery is safe)."""
    model = EmbeddingModel.objects.filter(pk=model_id).first()
    if model is None:
        return {"skipped": "model was deleted"}
    return embed_artworks(artwork_ids, model).as_dict()
