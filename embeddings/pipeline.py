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
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import transaction
from django.db.models import F

from catalog.models import Artwork
from embeddings.clip import ImageEncoder, PendingVectors, Prepared, get_image_encoder
from embeddings.decoder_pool import MISSING, DecoderPool, decoder_pool
from embeddings.device_decoding import DevicePixels, EncodedJpeg, decode_on_device, device_jpeg, resize_crop, takes
from embeddings.image_cache import ImageCache, ImageError
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel
from embeddings.pixel_cache import PixelCache
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
    processes = decode_processes(encoder)
    pool = decoder_pool(processes) if processes else None
    on_device = decodes_on_device(encoder)
    kept = pixel_cache(encoder, cache)
    recipe = encoder.recipe

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
    with ThreadPoolExecutor(max_workers=decode_threads(len(chunks), processes), thread_name_prefix="decode") as threads:
        # Everything is submitted now, in order: the threads run ahead while the model works.
        futures = [threads.submit(load_chunk, chunk) for chunk in chunks]
        loading = [
            (artwork, future, index)
            for chunk, future in zip(chunks, futures, strict=True)
            for index, artwork in enumerate(chunk)
        ]
        try:
            with transaction.atomic():
                _embed_in_batches(model, encoder, loading, batch_size, result, load_on_host)
                if result.embedded:
                    EmbeddingFailure.objects.filter(model=model, artwork_id__in=result.embedded).delete()
                    transaction.on_commit(lambda: vectors_changed.send(sender=EmbeddingModel, model=model))
                if result.failed:
                    record_failures(model, {a.pk: a.image_id for a in artworks}, result.failed)
        finally:
            for future in futures:  # after an error, images not yet started are not worth decoding
                future.cancel()
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
                outcomes = [
                    (artwork, future.result()[index]) for artwork, future, index in loading[start : start + batch_size]
                ]
                for artwork, outcome in _decode_jpegs_on_device(encoder, outcomes, load_on_host):
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
