"""Rows as harvest walks, reconciles and the failure sweep leave them, for tests of what operators see."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from catalog.models import Artwork, SyncRun
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel

_next_aic_id = iter(range(900_000, 1_000_000))


def active_model(name: str = "watched") -> EmbeddingModel:
    """An active model row (no weights: nothing here embeds)."""
    return EmbeddingModel.objects.create(name=name, architecture="micro", dimension=4, is_active=True)


def artwork(
    *, image: bool = True, updated_ago: timedelta = timedelta(0), withdrawn: bool = False, **fields: Any
) -> Artwork:
    """An artwork last changed ``updated_ago`` before now (``updated_at`` is auto_now: set after saving)."""
    aic_id = next(_next_aic_id)
    row = Artwork.objects.create(
        aic_id=aic_id,
        title=f"Artwork {aic_id}",
        image_id=f"image-{aic_id}" if image else "",
        content_hash=str(aic_id),
        withdrawn_at=timezone.now() - timedelta(days=1) if withdrawn else None,
        **fields,
    )
    Artwork.objects.filter(pk=row.pk).update(updated_at=timezone.now() - updated_ago)
    row.refresh_from_db()
    return row


def embedded(row: Artwork, model: EmbeddingModel) -> ArtworkEmbedding:
    return ArtworkEmbedding.objects.create(artwork=row, model=model, image_id=row.image_id, vector=[1, 0, 0, 0])


def failure(row: Artwork, model: EmbeddingModel, *, retry_in: timedelta | None) -> EmbeddingFailure:
    """A transient failure the sweep retries ``retry_in`` from now, or (None) a permanent one."""
    return EmbeddingFailure.objects.create(
        artwork=row,
        model=model,
        image_id=row.image_id,
        reason="IIIF HTTP 503" if retry_in is not None else "IIIF HTTP 404",
        transient=retry_in is not None,
        retry_at=timezone.now() + retry_in if retry_in is not None else None,
    )


def sync_run(*, started_ago: timedelta, finished_ago: timedelta | None = None, **fields: Any) -> SyncRun:
    """A SyncRun started ``started_ago`` before now (``started_at`` is auto_now_add: set after saving)."""
    now = timezone.now()
    finished_at: datetime | None = now - finished_ago if finished_ago is not None else None
    fields.setdefault("source", "api")
    run = SyncRun.objects.create(finished_at=finished_at, **fields)
    SyncRun.objects.filter(pk=run.pk).update(started_at=now - started_ago)
    run.refresh_from_db()
    return run
