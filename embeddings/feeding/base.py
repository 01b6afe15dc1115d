"""The interface of a pixel source: artworks in, model-ready pixels out, prepared ahead of the model.

Every feeding path (``threads``, ``decoder_processes``, ``kept_pixels``, ``on_device``) is a
PixelSource. ``start`` hands it an embedding task's artworks, in order; a pool of threads prepares
them ahead of the model, a chunk (``chunk_size`` artworks) per ``load`` call; ``batch`` waits for
one forward batch of them and gives each as pixels ready for ``ImageEncoder.start``, or as the
ImageError that says why it cannot be embedded. ``stop`` leaves the images not yet started alone
(a deadline has passed); ``close`` ends the threads.
"""

from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from django.conf import settings

from catalog.models import Artwork
from core.retry import TRANSIENT_ERRORS
from embeddings.encoders.clip import ImageEncoder, Prepared
from embeddings.images.device_decoding import EncodedJpeg
from embeddings.images.iiif_cache import ImageCache
from embeddings.images.types import ImageError

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# What a decoding thread hands the model's loop for one artwork: pixels, a JPEG to decode on the
# device with its forward batch, or why the image cannot be had.
Loaded = Prepared | EncodedJpeg | ImageError


class _NotStarted:
    """What a load returns once the batch has passed its deadline: the image was left alone."""


NOT_STARTED = _NotStarted()


def decode_threads(images: int, processes: int = 0) -> int:
    """Threads that prepare images (never more than images): one per decoding process if there are
    any, else EMBED_DECODE_THREADS, or one per CPU core."""
    wanted = processes or settings.EMBED_DECODE_THREADS or len(os.sched_getaffinity(0))
    return max(1, min(wanted, images))


class PixelSource(ABC):
    """One way of turning an embedding task's artworks into model-ready pixels."""

    # Whether ``close`` after an error still waits for the threads (one talking to a decoding process
    # must not leave an answer in its pipe).
    waits_for_threads = False

    def __init__(self, cache: ImageCache, encoder: ImageEncoder) -> None:
        self.cache = cache
        self.encoder = encoder
        # Decoding uses every core, but AIC sees no more than IIIF_FETCH_CONCURRENCY downloads at once.
        self._download_slots = threading.BoundedSemaphore(settings.IIIF_FETCH_CONCURRENCY)
        self._stopping = threading.Event()  # set once the deadline has passed: images not yet started are left
        self._threads: ThreadPoolExecutor | None = None
        self._loading: list[tuple[Artwork, Future[list[Loaded]], int]] = []

    @abstractmethod
    def load(self, chunk: list[Artwork]) -> list[Loaded]:
        """The artworks of ``chunk``, each loaded as far as this path goes on the host (in a decoding thread)."""

    def chunk_size(self, artworks: int) -> int:
        """Artworks per ``load`` call."""
        return 1

    def thread_count(self, chunks: int) -> int:
        """Threads that run ``load`` calls ahead of the model."""
        return decode_threads(chunks)

    def finish(self, outcomes: list[tuple[Artwork, Loaded]]) -> list[tuple[Artwork, Prepared | ImageError]]:
        """One forward batch's loads as model-ready pixels (on the loop's thread)."""
        batch: list[tuple[Artwork, Prepared | ImageError]] = []
        for artwork, outcome in outcomes:
            assert not isinstance(outcome, EncodedJpeg)
            batch.append((artwork, outcome))
        return batch

    def start(self, artworks: list[Artwork]) -> None:
        """Start preparing ``artworks``: everything is submitted now, in order, and the threads run
        ahead while the model works."""
        size = self.chunk_size(len(artworks))
        chunks = [artworks[start : start + size] for start in range(0, len(artworks), size)]
        self._threads = ThreadPoolExecutor(max_workers=self.thread_count(len(chunks)), thread_name_prefix="decode")
        futures = [self._threads.submit(self.load, chunk) for chunk in chunks]
        self._loading = [
            (artwork, future, index)
            for chunk, future in zip(chunks, futures, strict=True)
            for index, artwork in enumerate(chunk)
        ]

    def batch(self, start: int, stop: int) -> list[tuple[Artwork, Prepared | ImageError]]:
        """The artworks ``start:stop`` of those given to ``start``, with their pixels or their errors."""
        return self.finish([(artwork, future.result()[index]) for artwork, future, index in self._loading[start:stop]])

    def stop(self) -> None:
        """Leave the images not yet started alone."""
        self._stopping.set()

    def close(self, *, finished: bool) -> None:
        """End the threads. After an error (a time limit among them) the task does not wait for a
        download under way: it touches only the image cache, and the task's committed work must be
        handed on in time."""
        self.stop()
        if self._threads is not None:
            self._threads.shutdown(wait=finished or self.waits_for_threads, cancel_futures=True)

    def load_here(self, artwork: Artwork, make: Callable[[Path], Loaded]) -> Loaded:
        """``make`` of the artwork's cached file, fetched first if need be, in this thread; an image that
        cannot be had is returned as its ImageError, never raised."""
        if self._stopping.is_set():
            return NOT_STARTED  # type: ignore[return-value]  # never reaches a forward batch

        def fetch_and_make() -> Loaded:
            path = self.cache.path_for(artwork.image_id)
            if not path.exists():
                with self._download_slots:
                    self.cache.fetch(artwork.image_id)
            return make(path)

        return self.guarded(artwork, fetch_and_make)

    def guarded(self, artwork: Artwork, step: Callable[[], _T]) -> _T | ImageError:
        """``step`` for ``artwork``, with what it raises about the image returned as an ImageError."""
        try:
            return step()
        except ImageError as exc:
            return exc
        except TRANSIENT_ERRORS:
            raise  # the database or Redis is away: the task retries rather than record a false failure
        except Exception as exc:  # a preprocessing bug must not sink the rest of the batch
            logger.exception("preprocessing artwork %s failed", artwork.pk)
            return ImageError(f"preprocessing failed: {type(exc).__name__}: {exc}")
