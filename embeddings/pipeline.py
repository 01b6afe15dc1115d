"""Embedding a batch of artworks: read (or fetch) images, preprocess, forward, upsert.

A thread pool reads, decodes and resizes every image of the batch ahead of the model
(file reads, JPEG decoding and resizing release the GIL). The model runs on one forward
batch of EMBED_FORWARD_BATCH_SIZE images while the threads prepare the next, so once images
are cached a worker runs at the speed of its model, not of its decoder. In front of a GPU
the threads hand cached images to decoding processes (``decoder_pool``): one interpreter
cannot decode as fast as a GPU embeds. With EMBED_DECODE_ON_DEVICE the threads only read cached
JPEGs, and each forward batch is decoded and resized on the device (``device_decoding``).
With the pixel cache (EMBED_PIXEL_CACHE, ``pixel_cache``) an image embedded before is read back
resized and cropped, and only the others are decoded.

No transaction spans the downloads: each forward batch's vectors and failures commit together,
as soon as they are computed, so a time limit or a lost worker never takes back work done. Given a
deadline, a batch stops taking forward batches once it has passed and reports the artworks it did
not reach (``BatchResult.remaining``), for the caller to queue again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db.models import Exists, OuterRef

from catalog.models import Artwork
from core.retry import TRANSIENT_ERRORS
from embeddings.clip import ImageEncoder, PendingVectors, Prepared, get_image_encoder
from embeddings.decoder_pool import MISSING, DecoderPool, decoder_pool
from embeddings.device_decoding import DevicePixels, EncodedJpeg, decode_on_device, device_jpeg, resize_crop, takes
from embeddings.image_cache import ImageCache, ImageError
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel
from embeddings.pixel_cache import PixelCache
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


class _NotStarted:
    """What a load returns once the batch has passed its deadline: the image was left alone."""


NOT_STARTED = _NotStarted()


# Most images per request to a decoding process: few enough that the first forward batch starts
# soon, enough that the pixels cross in large reads.
PROCESS_CHUNK = 16


def decode_threads(images: int, processes: int = 0) -> int:
    """Threads that prepare images (never more than images): one per decoding process if there are
    any, else EMBED_DECODE_THREADS, or one per CPU core."""
    wanted = processes or settings.EMBED_DECODE_THREADS or len(os.sched_getaffinity(0))
    return max(1, min(wanted, images))


def decodes_on_device(encoder: ImageEncoder) -> bool:
    """Whether cached JPEGs are decoded and resized on the encoder's device (EMBED_DECODE_ON_DEVICE)."""
    return bool(settings.EMBED_DECODE_ON_DEVICE) and takes(encoder.recipe)


def decode_processes(encoder: ImageEncoder) -> int:
    """Decoding processes for this encoder: EMBED_DECODE_PROCESSES, or ("auto") one per CPU core on a
    GPU and none on a CPU. None either where the model's preprocessing has no ResizeCrop recipe, or
    where images are decoded on the device (threads read the files and hand PIL the rest)."""
    if encoder.recipe is None or decodes_on_device(encoder):
        return 0
    if settings.EMBED_DECODE_PROCESSES is not None:
        return int(settings.EMBED_DECODE_PROCESSES)
    return len(os.sched_getaffinity(0)) if encoder.device.type == "cuda" else 0


def pixel_cache(encoder: ImageEncoder, cache: ImageCache) -> PixelCache | None:
    """Where this encoder's resized and cropped images are kept (EMBED_PIXEL_CACHE), or None: off, or
    ("auto") the encoder is not on a GPU, or its images are decoded on the device, or its preprocessing
    has no ResizeCrop recipe."""
    enabled = settings.EMBED_PIXEL_CACHE
    if enabled is None:
        enabled = encoder.device.type == "cuda"
    if not enabled or encoder.recipe is None or decodes_on_device(encoder):
        return None
    return PixelCache.for_recipe(cache.pixels_root, cache.root, encoder.recipe, encoder.draft_size)


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
    # Decoding uses every core, but AIC sees no more than IIIF_FETCH_CONCURRENCY downloads at once.
    download_slots = threading.BoundedSemaphore(settings.IIIF_FETCH_CONCURRENCY)
    processes = decode_processes(encoder)
    pool = decoder_pool(processes) if processes else None
    on_device = decodes_on_device(encoder)
    kept = pixel_cache(encoder, cache)
    recipe = encoder.recipe
    stopping = threading.Event()  # set once the deadline has passed: images not yet started are left

    def read_kept(path: Path) -> np.ndarray | None:
        """The pixels kept for the cached file ``path``, if there are any for this very file."""
        if kept is None or recipe is None:
            return None
        try:
            pixels = kept.read(path)
        except FileNotFoundError:
            return None  # not cached: the usual path fetches it
        return None if pixels is None else np.frombuffer(pixels, dtype=np.uint8).reshape(*recipe.crop, 3)

    def load(artwork: Artwork, *, device_decoding: bool = on_device) -> Prepared | EncodedJpeg | ImageError:
        if stopping.is_set():
            return NOT_STARTED  # type: ignore[return-value]  # never reaches a forward batch
        try:
            path = cache.path_for(artwork.image_id)
            if not path.exists():
                with download_slots:
                    cache.fetch(artwork.image_id)
            if device_decoding:
                with suppress(FileNotFoundError):  # evicted meanwhile: fetched again below
                    jpeg = device_jpeg(path.read_bytes(), cache.max_pixels)
                    if jpeg is not None:
                        return jpeg  # decoded with its forward batch, on the device
            ready = read_kept(path)
            if ready is not None:
                return ready
            signature = kept.signature(path) if kept is not None else None
            prepared = encoder.prepare(cache.open(artwork.image_id, draft_size=encoder.draft_size))
            if kept is not None and signature is not None and isinstance(prepared, np.ndarray):
                kept.write(path, prepared.tobytes(), signature)
            return prepared
        except ImageError as exc:
            return exc
        except TRANSIENT_ERRORS:
            raise  # the database or Redis is away: the task retries rather than record a false failure
        except Exception as exc:  # a preprocessing bug must not sink the rest of the batch
            logger.exception("preprocessing artwork %s failed", artwork.pk)
            return ImageError(f"preprocessing failed: {type(exc).__name__}: {exc}")

    def load_on_host(artwork: Artwork) -> Prepared | ImageError:
        """PIL's path, for an image the device's decoder refused: it decodes it or says why not."""
        outcome = load(artwork, device_decoding=False)
        assert not isinstance(outcome, EncodedJpeg)
        return outcome

    def load_chunk(chunk: list[Artwork]) -> list[Prepared | EncodedJpeg | ImageError]:
        """Cached images through a decoding process (if there are any), the others fetched and decoded here."""
        if pool is None:
            return [load(artwork) for artwork in chunk]
        # Pixels kept from an earlier embedding are read here; a decoding process makes (and keeps) the rest.
        paths = [cache.path_for(artwork.image_id) for artwork in chunk]
        ready: list[Prepared | EncodedJpeg | ImageError | None] = [read_kept(path) for path in paths]
        to_decode = [path for path, outcome in zip(paths, ready, strict=True) if outcome is None]
        if to_decode:
            decoded = iter(_prepare_in_process(pool, cache, encoder, to_decode, kept))
            ready = [next(decoded) if outcome is None else outcome for outcome in ready]
        return [load(artwork) if outcome is None else outcome for artwork, outcome in zip(chunk, ready, strict=True)]

    # Every decoding process gets work, up to PROCESS_CHUNK images per request.
    chunk_size = min(PROCESS_CHUNK, -(-len(artworks) // processes)) if pool is not None else 1
    chunks = [artworks[start : start + chunk_size] for start in range(0, len(artworks), chunk_size)]
    threads = ThreadPoolExecutor(max_workers=decode_threads(len(chunks), processes), thread_name_prefix="decode")
    # Everything is submitted now, in order: the threads run ahead while the model works.
    futures = [threads.submit(load_chunk, chunk) for chunk in chunks]
    loading = [
        (artwork, future, index)
        for chunk, future in zip(chunks, futures, strict=True)
        for index, artwork in enumerate(chunk)
    ]
    finished = False
    try:
        _embed_in_batches(model, encoder, loading, batch_size, result, load_on_host, cache, deadline, stopping)
        finished = True
    finally:
        stopping.set()
        # After an error (a time limit among them) the task does not wait for a download under way: it
        # touches only the image cache, and the task's committed work must be handed on in time. A thread
        # talking to a decoding process is waited for, so that no answer is left in a pipe.
        threads.shutdown(wait=finished or pool is not None, cancel_futures=True)
        if result.embedded:
            vectors_changed.send(sender=EmbeddingModel, model=model)
    if result.failed:
        logger.warning(
            "model %s: %d of %d artworks failed: %s", model.name, len(result.failed), len(artworks), result.failed
        )
    return result


def _prepare_in_process(
    pool: DecoderPool, cache: ImageCache, encoder: ImageEncoder, paths: list[Path], kept: PixelCache | None
) -> list[Prepared | ImageError | None]:
    """These cached files prepared by a decoding process (which keeps their pixels in ``kept``); None for
    those not in the cache (any more)."""
    assert encoder.recipe is not None
    outcomes = pool.prepare(paths, cache.max_pixels, encoder.draft_size, encoder.recipe, kept)
    for path, outcome in zip(paths, outcomes, strict=True):
        if isinstance(outcome, ImageError):
            path.unlink(missing_ok=True)  # never keep an undecodable file in the cache
    return [None if outcome is MISSING else outcome for outcome in outcomes]


def _embed_in_batches(
    model: EmbeddingModel,
    encoder: ImageEncoder,
    loading: list[tuple[Artwork, Future[list[Prepared | EncodedJpeg | ImageError]], int]],
    batch_size: int,
    result: BatchResult,
    load_on_host: Callable[[Artwork], Prepared | ImageError],
    cache: ImageCache,
    deadline: float | None,
    stopping: threading.Event,
) -> None:
    """Forward pass by forward pass; a writer thread commits each batch while the next is computed.

    The writer uses this thread's database connection, one transaction per forward batch (its
    vectors, and its failures); every write has finished when this returns, also after an error.
    """
    raw = raw_connection()
    writes: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="upsert") as writer:
        try:
            for start in range(0, len(loading), batch_size):
                # Checked before every forward batch but the first: a task always moves the work on.
                if start and deadline is not None and time.monotonic() >= deadline:
                    stopping.set()
                    result.remaining = [artwork.pk for artwork, _, _ in loading[start:]]
                    logger.info(
                        "model %s: %d artworks left for the next task (this one's time is up)",
                        model.name,
                        len(result.remaining),
                    )
                    break
                ready: list[Artwork] = []
                prepared: list[Prepared] = []
                failed: dict[Artwork, ImageError] = {}
                outcomes = [
                    (artwork, future.result()[index]) for artwork, future, index in loading[start : start + batch_size]
                ]
                for artwork, outcome in _decode_jpegs_on_device(encoder, outcomes, load_on_host):
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


def _decode_jpegs_on_device(
    encoder: ImageEncoder,
    outcomes: list[tuple[Artwork, Prepared | EncodedJpeg | ImageError]],
    load_on_host: Callable[[Artwork], Prepared | ImageError],
) -> list[tuple[Artwork, Prepared | ImageError]]:
    """The batch with its EncodedJpegs decoded, resized and cropped on the device, in one decoding call;
    an image the device's decoder refuses goes through PIL's path."""
    jpegs = [outcome for _, outcome in outcomes if isinstance(outcome, EncodedJpeg)]
    decoded = iter(decode_on_device(jpegs, encoder.device))
    batch: list[tuple[Artwork, Prepared | ImageError]] = []
    for artwork, outcome in outcomes:
        if not isinstance(outcome, EncodedJpeg):
            batch.append((artwork, outcome))
            continue
        image = next(decoded)
        if image is None or encoder.recipe is None:
            batch.append((artwork, load_on_host(artwork)))
        else:
            batch.append((artwork, DevicePixels(resize_crop(image, encoder.recipe))))
    return batch


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
