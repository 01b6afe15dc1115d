from __future__ import annotations

from celery import shared_task

from embeddings.lifecycle import activation_step
from embeddings.models import EmbeddingModel
from museum_site.celery import RETRY_TRANSIENT_ERRORS


@shared_task(**RETRY_TRANSIENT_ERRORS)
def embed_artworks_task(artwork_ids: list[int], model_id: int) -> dict[str, object]:
    """Embed one batch of artworks under one model (idempotent: redelivery and retries are safe)."""
    # Imported here, so that the processes that only queue this task (the site) never load PyTorch.
    from embeddings.pipeline import embed_artworks

    model = EmbeddingModel.objects.filter(pk=model_id).first()
    if model is None:
        return {"skipped": "model was deleted"}
    return embed_artworks(artwork_ids, model).as_dict()


@shared_task(**RETRY_TRANSIENT_ERRORS)
def activate_model_task(
    model_id: int, force: bool = False, prune: bool = False, resume_after: int = 0, gated: bool = False
) -> dict[str, object]:
    """One step of a model's activation (gate, embed for a while, switch when complete); queues the next step."""
    model = EmbeddingModel.objects.filter(pk=model_id).first()
    if model is None:
        return {"skipped": "model was deleted"}
    step = activation_step(model, force=force, prune=prune, resume_after=resume_after, gated=gated)
    if not step.finished:
        activate_model_task.delay(model_id, force=force, prune=prune, resume_after=step.resume_after, gated=True)
    return {"state": step.status.state, "resume_after": step.resume_after}
