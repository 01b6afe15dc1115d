"""Embedding a batch of artworks: read (or fetch) images, preprocess, forward, upsert.

A thread pool reads, decodes and resizes every image of the batch ahead of the model
(file reads, JPEG decoding and resizing release the GIL). The model runs on one forward
batch of EMBED_FORWARD_BATCH_SIZE images while the threads prepare the next, so once images
are cached a worker runs at the speed of its model, not of its decoder.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import transaction
from django.db.models import F

from catalog.models import Artwork
from embeddings.clip import ImageEncoder, PendingVectors, Prepared, get_image_encoder
from embeddings.image_cache import ImageCache, ImageError
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel
from embeddings.signals import vectors_changed
from embeddings.vector_sql import raw_connection, vector_cursor
from museum_site.celery import TRANSIENT_ERRORS

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    embedded: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)  # gone, or without an image

    def as_dict(self) -> dict[str, object]:
        return {"embedded": len(self.embedded), "failed": self.failed, "skipped": len(self.skipped)}


def decode_threads(images: int) -> int:
    """Threads that prepare images: EMBED_DECODE_THREADS, or one per CPU core (never more than images)."""
    wanted = settings.EMBED_DECODE_THREADS or len(os.sched_getaffinity(0))
    return max(1, min(wanted, images))


def embed_artworks(
    artwork_ids: list[int],
    model: EmbeddingModel,
    *,
    cache: ImageCache | None = None,
    encoder: ImageEncoder | None = None,
    batch_size: int | None = None,
) -> BatchResult:
    """Embed these artworks under ``model``. Safe to run twice: writes are upserts.

    ``batch_size`` is the number of images per forward pass (default EMBED_FORWARD_BATCH_SIZE).
    """
    result = BatchResult()
    artworks = list(
        Artwork.objects.filter(pk__in=artwork_ids).exclude(image_id="").only("pk", "image_id").order_by("pk")
    )
    found = {artwork.pk for artwork in artworks}
    result.skipped = [pk for pk in artwork_ids if pk not in found]
    if not artworks:
        return result
    cache = cache or ImageCache.from_settings()
    encoder = encoder or get_image_encoder(model)
    batch_size = batch_size or settings.EMBED_FORWARD_BATCH_SIZE
    # Decoding uses every core, but AIC sees no more than IIIF_FETCH_CONCURRENCY downloads at once.
    download_slots = threading.BoundedSemaphore(settings.IIIF_FETCH_CONCURRENCY)

    def load(artwork: Artwork) -> Prepared | ImageError:
        try:
            if not cache.path_for(artwork.image_id).exists():
                with download_slots:
                    cache.fetch(artwork.image_id)
            return encoder.prepare(cache.open(artwork.image_id, draft_size=encoder.draft_size))
        except ImageError as exc:
            return exc
        except TRANSIENT_ERRORS:
            raise  # the database or Redis is away: the task retries rather than record a false failure
        except Exception as exc:  # a preprocessing bug must not sink the rest of the batch
            logger.exception("preprocessing artwork %s failed", artwork.pk)
            return ImageError(f"preprocessing failed: {type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=decode_threads(len(artworks)), thread_name_prefix="decode") as pool:
        # Everything is submitted now, in order: the threads run ahead while the model works.
        loading = [pool.submit(load, artwork) for artwork in artworks]
        try:
            with transaction.atomic():
                _embed_in_batches(model, encoder, list(zip(artworks, loading, strict=True)), batch_size, result)
                if result.embedded:
                    EmbeddingFailure.objects.filter(model=model, artwork_id__in=result.embedded).delete()
                    transaction.on_commit(lambda: vectors_changed.send(sender=EmbeddingModel, model=model))
                if result.failed:
                    record_failures(model, {a.pk: a.image_id for a in artworks}, result.failed)
        finally:
            for future in loading:  # after an error, images not yet started are not worth decoding
                future.cancel()
    if result.failed:
        logger.warning(
            "model %s: %d of %d artworks failed: %s", model.name, len(result.failed), len(artworks), result.failed
        )
    return result


def _embed_in_batches(
    model: EmbeddingModel,
    encoder: ImageEncoder,
    loading: list[tuple[Artwork, Future[Prepared | ImageError]]],
    batch_size: int,
    result: BatchResult,
) -> None:
    """Forward pass by forward pass; a writer thread stores each batch while the next is computed.

    The writer uses this thread's database connection (inside its transaction), one statement at a
    time; every write has finished when this returns, also after an error.
    """
    raw = raw_connection()
    writes: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="upsert") as writer:
        try:
            for start in range(0, len(loading), batch_size):
                ready: list[Artwork] = []
                prepared: list[Prepared] = []
                for artwork, future in loading[start : start + batch_size]:
                    outcome = future.result()
                    if isinstance(outcome, ImageError):
                        result.failed[artwork.pk] = outcome.reason
                    else:
                        ready.append(artwork)
                        prepared.append(outcome)
                if ready:
                    writes.append(writer.submit(_write, raw, model, ready, encoder.start(prepared), result))
                while writes and writes[0].done():
                    writes.pop(0).result()  # a failed write stops the task now
        except BaseException:
            for write in writes:
                write.cancel()
            raise
    for write in writes:
        write.result()


def _write(
    raw: psycopg.Connection[Any],
    model: EmbeddingModel,
    artworks: list[Artwork],
    vectors: PendingVectors,
    result: BatchResult,
) -> None:
    upsert_vectors(model, list(zip(artworks, vectors.result(), strict=True)), raw=raw)
    result.embedded.extend(artwork.pk for artwork in artworks)


def upsert_vectors(
    model: EmbeddingModel, embedded: list[tuple[Artwork, np.ndarray]], raw: psycopg.Connection[Any] | None = None
) -> None:
    """Insert or replace these vectors under ``model`` (on ``raw``, or this thread's database connection).

    One INSERT … SELECT FROM unnest(…) ON CONFLICT with the vectors as one binary array
    parameter: the ORM would print 512 decimals per vector in Python, about a millisecond each,
    which at GPU speed costs more than the forward pass.
    """
    table = ArtworkEmbedding._meta.db_table
    with vector_cursor(raw or raw_connection()) as cursor:
        cursor.execute(
            f"INSERT INTO {table} (artwork_id, model_id, vector, image_id, created_at, updated_at) "
            "SELECT u.artwork_id, %b, u.vector, u.image_id, now(), now() "
            "FROM unnest(%b::int8[], %b::text[], %b::vector[]) AS u(artwork_id, image_id, vector) "
            "ON CONFLICT (artwork_id, model_id) DO UPDATE "
            "SET vector = EXCLUDED.vector, image_id = EXCLUDED.image_id, updated_at = EXCLUDED.updated_at",
            [
                model.pk,
                [artwork.pk for artwork, _ in embedded],
                [artwork.image_id for artwork, _ in embedded],
                [np.asarray(vector, dtype=np.float32) for _, vector in embedded],
            ],
        )


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
