"""Embedding a batch of artworks: fetch images, preprocess, one forward pass, upsert.

Fetching and preprocessing run in a thread pool (network and JPEG decoding release the
GIL), so a batch costs about one forward pass once its images are cached.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch
from django.conf import settings
from django.db import transaction
from django.db.models import F

from catalog.models import Artwork
from embeddings.clip import ImageEncoder, get_image_encoder
from embeddings.image_cache import ImageCache, ImageError
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    embedded: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)  # gone, or without an image

    def as_dict(self) -> dict[str, object]:
        return {"embedded": len(self.embedded), "failed": self.failed, "skipped": len(self.skipped)}


def embed_artworks(
    artwork_ids: list[int],
    model: EmbeddingModel,
    *,
    cache: ImageCache | None = None,
    encoder: ImageEncoder | None = None,
) -> BatchResult:
    """Embed these artworks under ``model``. Safe to run twice: writes are upserts."""
    result = BatchResult()
    artworks = list(Artwork.objects.filter(pk__in=artwork_ids).exclude(image_id="").only("pk", "image_id"))
    found = {artwork.pk for artwork in artworks}
    result.skipped = [pk for pk in artwork_ids if pk not in found]
    if not artworks:
        return result
    cache = cache or ImageCache.from_settings()
    encoder = encoder or get_image_encoder(model)

    def load(artwork: Artwork) -> torch.Tensor | ImageError:
        try:
            return encoder.preprocess_image(cache.open(artwork.image_id))
        except ImageError as exc:
            return exc
        except Exception as exc:  # a preprocessing bug must not sink the rest of the batch
            logger.exception("preprocessing artwork %s failed", artwork.pk)
            return ImageError(f"preprocessing failed: {type(exc).__name__}: {exc}")

    workers = min(settings.IIIF_FETCH_CONCURRENCY, len(artworks))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
        loaded = list(pool.map(load, artworks))

    ready = [
        (artwork, tensor) for artwork, tensor in zip(artworks, loaded, strict=True) if isinstance(tensor, torch.Tensor)
    ]
    for artwork, outcome in zip(artworks, loaded, strict=True):
        if isinstance(outcome, ImageError):
            result.failed[artwork.pk] = outcome.reason
    vectors: Any = encoder.encode(torch.stack([tensor for _, tensor in ready])) if ready else []

    with transaction.atomic():
        if ready:
            ArtworkEmbedding.objects.bulk_create(
                [
                    ArtworkEmbedding(artwork=artwork, model=model, vector=vector, image_id=artwork.image_id)
                    for (artwork, _), vector in zip(ready, vectors, strict=True)
                ],
                update_conflicts=True,
                unique_fields=["artwork", "model"],
                update_fields=["vector", "image_id", "updated_at"],
            )
            result.embedded = [artwork.pk for artwork, _ in ready]
            EmbeddingFailure.objects.filter(model=model, artwork_id__in=result.embedded).delete()
        if result.failed:
            record_failures(model, {a.pk: a.image_id for a in artworks}, result.failed)
    if result.failed:
        logger.warning(
            "model %s: %d of %d artworks failed: %s", model.name, len(result.failed), len(artworks), result.failed
        )
    return result


def record_failures(model: EmbeddingModel, image_ids: dict[int, str], reasons: dict[int, str]) -> None:
    existing = set(
        EmbeddingFailure.objects.filter(model=model, artwork_id__in=reasons).values_list("artwork_id", flat=True)
    )
    for artwork_id in existing:
        EmbeddingFailure.objects.filter(model=model, artwork_id=artwork_id).update(
            reason=reasons[artwork_id], image_id=image_ids.get(artwork_id, ""), attempts=F("attempts") + 1
        )
    EmbeddingFailure.objects.bulk_create(
        [
            EmbeddingFailure(artwork_id=pk, model=model, reason=reason, image_id=image_ids.get(pk, ""))
            for pk, reason in reasons.items()
            if pk not in existing
        ],
        ignore_conflicts=True,
    )
