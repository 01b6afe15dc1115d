"""The embeddings app's Celery tasks: thin wrappers that run its services on the embed queue."""

from __future__ import annotations

import time
from collections.abc import Callable

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from core.retry import RETRY_TRANSIENT_ERRORS
from embeddings.activation.fan_out import start, watch
from embeddings.indexing import enqueue_embedding
from embeddings.models import EmbeddingModel
from embeddings.registration import register_queued
from embeddings.sweep import sweep


def task_budget_seconds() -> float:
    """How long a task works before it hands the rest on: half the soft time limit, which leaves the
    other half for the forward batch, downloads and writes under way when it is reached."""
    return settings.CELERY_TASK_SOFT_TIME_LIMIT / 2


@shared_task(**RETRY_TRANSIENT_ERRORS)
def embed_artworks_task(artwork_ids: list[int], model_id: int, force: bool = False) -> dict[str, object]:
    """Embed one batch of artworks under one model (idempotent: redelivery and retries are safe).

    Each forward batch commits as it is done; what the task's time budget does not reach is queued
    again as a task of its own. Artworks that already have a vector of their current image are left
    out, unless ``force`` (a curator's re-embed).
    """
    # Imported here, so that the processes that only queue this task (the site) never load PyTorch.
    from embeddings.pipeline import embed_artworks

    model = EmbeddingModel.objects.filter(pk=model_id).first()
    if model is None:
        return {"skipped": "model was deleted"}
    deadline = time.monotonic() + task_budget_seconds()
    try:
        result = embed_artworks(artwork_ids, model, deadline=deadline, only_missing=not force)
    except SoftTimeLimitExceeded:
        # Every forward batch finished so far is committed; the rest (what has no vector) goes again.
        embed_artworks_task.delay(artwork_ids, model_id)
        return {"requeued": len(artwork_ids), "reason": "soft time limit"}
    if result.remaining:
        embed_artworks_task.delay(result.remaining, model_id, force=force)
    return result.as_dict()


@shared_task(**RETRY_TRANSIENT_ERRORS)
def sweep_task() -> dict[str, int]:
    """Queue the embedding work that was lost or whose retry is due (embeddings/sweep.py)."""
    return sweep(enqueue_embedding).as_dict()


@shared_task(**RETRY_TRANSIENT_ERRORS)
def register_model_task(name: str, architecture: str, pretrained: str, notes: str = "") -> dict[str, str]:
    """Register a model queued from the admin: its weights are loaded and its towers exported here,
    on a worker with PyTorch; the outcome is recorded for the model list (embeddings/registration.py)."""
    status = register_queued(name, architecture, pretrained, notes)
    return {"state": status.state, "message": status.message}


@shared_task(**RETRY_TRANSIENT_ERRORS)
def activate_model_task(
    model_id: int, force: bool = False, prune: bool = False, resume_after: int = 0, gated: bool = False
) -> dict[str, object]:
    """The first step of a model's activation on the embed queue: the gate, then the watcher
    (embeddings/activation/fan_out.py), which fans the pass out over every embed worker.

    ``resume_after`` and ``gated`` are read from steps queued by an earlier release, which embedded in
    one process: such a step past its gate hands over to the watcher, which finds what is missing."""
    model = EmbeddingModel.objects.filter(pk=model_id).first()
    if model is None:
        return {"skipped": "model was deleted"}
    status = start(model, force=force, send_next=_watcher_of(model_id, prune))
    return {"state": status.state}


@shared_task(**RETRY_TRANSIENT_ERRORS)
def watch_activation_task(model_id: int, token: str, prune: bool = False) -> dict[str, object]:
    """One watcher step of a model's activation: queue a page of batches, measure, switch once complete."""
    model = EmbeddingModel.objects.filter(pk=model_id).first()
    if model is None:
        return {"skipped": "model was deleted"}
    status = watch(model, token, prune=prune, send_next=_watcher_of(model_id, prune))
    if status is None:
        return {"skipped": "another step of this activation is running"}
    return {
        "state": status.state,
        "done": status.done,
        "to_embed": status.to_embed,
        "queued_through": status.queued_through,
    }


def _watcher_of(model_id: int, prune: bool) -> Callable[[str, float], None]:
    def send_next(token: str, countdown: float) -> None:
        watch_activation_task.apply_async((model_id, token), {"prune": prune}, countdown=countdown)

    return send_next
