"""Embedding a batch of artworks: pixels from a pixel source, forward, upsert, commit.

A pixel source (``embeddings.feeding``; which one, ``choose_pixel_source`` says from the EMBED_*
settings) prepares every image of the batch ahead of the model: threads decoding in this process,
decoding processes, the pixel cache, or decoding on the device. The model runs on one forward batch
of EMBED_FORWARD_BATCH_SIZE images while the source prepares the next, so once images are cached a
worker runs at the speed of its model, not of its decoder.

No transaction spans the downloads: each forward batch's vectors and failures commit together,
as soon as they are computed, so a time limit or a lost worker never takes back work done. Given a
deadline, a batch stops taking forward batches once it has passed and reports the artworks it did
not reach (``BatchResult.remaining``), for the caller to queue again.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db.models import Exists, OuterRef

from catalog.models import Artwork
from embeddings.encoders.clip import ImageEncoder, PendingVectors, Prepared
from embeddings.encoders.per_process import get_image_encoder
from embeddings.feeding.base import PixelSource
from embeddings.feeding.choice import choose_pixel_source
from embeddings.images.iiif_cache import ImageCache
from embeddings.images.types import ImageError
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel
from embeddings.signals import vectors_changed
from embeddings.vector_sql import raw_connection, vector_cursor

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    embedded: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)  # gone, withdrawn, without an image, or embedded already
    remaining: list[int] = field(default_factory=list)  # not reached before the deadline
    transient: set[int] = field(default_factory=set)  # the failures that may heal (the sweep retries them)

    def as_dict(self) -> dict[str, object]:
        return {
            "embedded": len(self.embedded),
            "failed": self.failed,
            "skipped": len(self.skipped),
            "remaining": len(self.remaining),
        }


def embed_artworks(
    artwork_ids: list[int],
    model: EmbeddingModel,
    *,
    cache: ImageCache | None = None,
    encoder: ImageEncoder | None = None,
    batch_size: int | None = None,
    deadline: float | None = None,
    only_missing: bool = False,
) -> BatchResult:
    """Embed these artworks under ``model``. Safe to run twice: writes are upserts.

    ``batch_size`` is the number of images per forward pass (default EMBED_FORWARD_BATCH_SIZE).
    ``deadline`` (a ``time.monotonic()`` value): no forward batch starts after it; the artworks
    not reached are in ``remaining``. ``only_missing`` leaves out artworks that already have a vector
    of their current image under ``model`` (a task run again, or continued).
    """
    result = BatchResult()
    wanted = Artwork.objects.filter(pk__in=artwork_ids, withdrawn_at=None).exclude(image_id="")
    if only_missing:
        current = ArtworkEmbedding.objects.filter(model=model, artwork=OuterRef("pk"), image_id=OuterRef("image_id"))
        wanted = wanted.exclude(Exists(current))
    artworks = list(wanted.only("pk", "image_id").order_by("pk"))
    found = {artwork.pk for artwork in artworks}
    result.skipped = [pk for pk in artwork_ids if pk not in found]
    if not artworks:
        return result
    cache = cache or ImageCache.from_settings()
    encoder = encoder or get_image_encoder(model)
    batch_size = batch_size or settings.EMBED_FORWARD_BATCH_SIZE
    source = choose_pixel_source(cache, encoder)
    finished = False
    try:
        source.start(artworks)
        _embed_in_batches(model, encoder, source, artworks, batch_size, result, cache, deadline)
        finished = True
    finally:
        source.close(finished=finished)
        if result.embedded:
            vectors_changed.send(sender=EmbeddingModel, model=model)
    if result.failed:
        logger.warning(
            "model %s: %d of %d artworks failed: %s", model.name, len(result.failed), len(artworks), result.failed
        )
    return result


def _embed_in_batches(
    model: EmbeddingModel,
    encoder: ImageEncoder,
    source: PixelSource,
    artworks: list[Artwork],
    batch_size: int,
    result: BatchResult,
    cache: ImageCache,
    deadline: float | None,
) -> None:
    """Forward pass by forward pass; a writer thread commits each batch while the next is computed.

    The writer uses this thread's database connection, one transaction per forward batch (its
    vectors, and its failures); every write has finished when this returns, also after an error.
    """
    raw = raw_connection()
    writes: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="upsert") as writer:
        try:
            for start in range(0, len(artworks), batch_size):
                # Checked before every forward batch but the first: a task always moves the work on.
                if start and deadline is not None and time.monotonic() >= deadline:
                    source.stop()
                    result.remaining = [artwork.pk for artwork in artworks[start:]]
                    logger.info(
                        "model %s: %d artworks left for the next task (this one's time is up)",
                        model.name,
                        len(result.remaining),
                    )
                    break
                ready: list[Artwork] = []
                prepared: list[Prepared] = []
                failed: dict[Artwork, ImageError] = {}
                for artwork, outcome in source.batch(start, start + batch_size):
                    if isinstance(outcome, ImageError):
                        failed[artwork] = outcome
                    else:
                        ready.append(artwork)
                        prepared.append(outcome)
                vectors = encoder.start(prepared) if ready else None
                # The image server answered this task: a transient failure beside that is the image's own.
                server_up = cache.downloads > 0
                writes.append(writer.submit(_commit_batch, raw, model, ready, vectors, failed, server_up, result))
                while writes and writes[0].done():
                    writes.pop(0).result()  # a failed write stops the task now
        except BaseException:
            for write in writes:
                write.cancel()
            raise
    for write in writes:
        write.result()


def _commit_batch(
    raw: psycopg.Connection[Any],
    model: EmbeddingModel,
    artworks: list[Artwork],
    vectors: PendingVectors | None,
    failed: dict[Artwork, ImageError],
    server_up: bool,
    result: BatchResult,
) -> None:
    """One forward batch's vectors and failures, in one transaction of ``raw``."""
    embedded = list(zip(artworks, vectors.result(), strict=True)) if vectors is not None else []
    with raw.transaction():
        if embedded:
            upsert_vectors(model, embedded, raw=raw)
            with psycopg.Cursor(raw) as cursor:
                cursor.execute(
                    f"DELETE FROM {EmbeddingFailure._meta.db_table} WHERE model_id = %s AND artwork_id = ANY(%s)",
                    [model.pk, [artwork.pk for artwork in artworks]],
                )
        if failed:
            record_failures(model, failed, counted_if_transient=server_up, raw=raw)
    result.embedded.extend(artwork.pk for artwork in artworks)
    for artwork, error in failed.items():
        result.failed[artwork.pk] = error.reason
        if error.transient:
            result.transient.add(artwork.pk)


def upsert_vectors(
    model: EmbeddingModel, embedded: list[tuple[Artwork, np.ndarray]], raw: psycopg.Connection[Any] | None = None
) -> None:
    """Insert or replace these vectors under ``model`` (on ``raw``, or this thread's database connection).

    One INSERT … SELECT FROM unnest(…) ON CONFLICT with the vectors as one binary array
    parameter: the ORM would print every vector as hundreds of decimals in Python, which at GPU speed
    costs more than the forward pass (``bench.embed`` measures the whole task path).
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


_RECORD_FAILURES_SQL = """
INSERT INTO {table} AS failure
    (artwork_id, model_id, image_id, reason, transient, attempts, tries, failed_at, retry_at)
SELECT u.artwork_id, %(model)s, u.image_id, u.reason, u.transient, u.counted::int, 1, now(),
       CASE WHEN u.transient AND u.counted::int < %(max_attempts)s
            THEN now() + make_interval(secs => %(delay)s * (0.5 + random())) END
FROM unnest(%(artworks)s::int8[], %(image_ids)s::text[], %(reasons)s::text[], %(transient)s::bool[],
            %(counted)s::bool[]) AS u(artwork_id, image_id, reason, transient, counted)
ON CONFLICT (artwork_id, model_id) DO UPDATE SET
    image_id = EXCLUDED.image_id,
    reason = EXCLUDED.reason,
    transient = EXCLUDED.transient,
    failed_at = EXCLUDED.failed_at,
    -- A failure of another image than the one that failed before starts its count afresh.
    attempts = CASE WHEN failure.image_id = EXCLUDED.image_id THEN failure.attempts ELSE 0 END
               + EXCLUDED.attempts,
    tries = CASE WHEN failure.image_id = EXCLUDED.image_id THEN failure.tries ELSE 0 END + 1,
    retry_at = CASE
        WHEN EXCLUDED.transient AND (CASE WHEN failure.image_id = EXCLUDED.image_id THEN failure.attempts ELSE 0 END
                                     + EXCLUDED.attempts) < %(max_attempts)s
        THEN now() + make_interval(secs => least(
            %(delay)s * power(2, CASE WHEN failure.image_id = EXCLUDED.image_id THEN failure.tries ELSE 0 END),
            %(max_delay)s) * (0.5 + random()))
    END
"""


def record_failures(
    model: EmbeddingModel,
    failed: dict[Artwork, ImageError],
    *,
    counted_if_transient: bool = True,
    raw: psycopg.Connection[Any] | None = None,
) -> None:
    """Record why these artworks failed under ``model``, and when a transient failure is tried again.

    A transient failure is retried from ``retry_at``: EMBED_RETRY_DELAY_SECONDS after its first
    try, doubling with every try up to EMBED_RETRY_MAX_DELAY_SECONDS (with jitter, so a crowd of
    failures from one outage does not come back at once). It counts towards EMBED_MAX_ATTEMPTS
    only when ``counted_if_transient`` (the image server answered other requests meanwhile); past
    that it is kept as permanent, like a 404 or an undecodable image, which get no ``retry_at``.
    """
    items = list(failed.items())
    with psycopg.Cursor(raw or raw_connection()) as cursor:
        cursor.execute(
            _RECORD_FAILURES_SQL.format(table=EmbeddingFailure._meta.db_table),
            {
                "model": model.pk,
                "artworks": [artwork.pk for artwork, _ in items],
                "image_ids": [artwork.image_id for artwork, _ in items],
                "reasons": [error.reason for _, error in items],
                "transient": [error.transient for _, error in items],
                "counted": [counted_if_transient or not error.transient for _, error in items],
                "max_attempts": settings.EMBED_MAX_ATTEMPTS,
                "delay": float(settings.EMBED_RETRY_DELAY_SECONDS),
                "max_delay": float(settings.EMBED_RETRY_MAX_DELAY_SECONDS),
            },
        )
