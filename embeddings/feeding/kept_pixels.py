"""Feeding from the pixel cache: an image embedded before is read back resized and cropped.

The pixels of a cached file, kept by an earlier embedding under the model's recipe
(``embeddings.images.pixel_cache``), cost a file read instead of a decode and a resize. The
images without kept pixels go to the source this one wraps (threads or decoding processes),
which keeps the pixels it makes for the next time.
"""

from __future__ import annotations

import numpy as np

from catalog.models import Artwork
from embeddings.encoders.clip import Prepared
from embeddings.feeding.base import NOT_STARTED, Loaded, PixelSource
from embeddings.feeding.threads import ThreadDecoding
from embeddings.images.pixel_cache import PixelCache
from embeddings.images.types import ImageError


class KeptPixels(PixelSource):
    """Kept pixels where there are some for this very file, else ``inner``'s (which keeps them in ``kept``)."""

    def __init__(self, inner: ThreadDecoding, kept: PixelCache) -> None:
        super().__init__(inner.cache, inner.encoder)
        self.inner = inner
        self.kept = kept
        self.waits_for_threads = inner.waits_for_threads

    def chunk_size(self, artworks: int) -> int:
        return self.inner.chunk_size(artworks)

    def thread_count(self, chunks: int) -> int:
        return self.inner.thread_count(chunks)

    def load(self, chunk: list[Artwork]) -> list[Loaded]:
        ready = [self._read(artwork) for artwork in chunk]
        missing = [artwork for artwork, outcome in zip(chunk, ready, strict=True) if outcome is None]
        made = iter(self.inner.load(missing) if missing else [])
        return [next(made) if outcome is None else outcome for outcome in ready]

    def stop(self) -> None:
        super().stop()
        self.inner.stop()

    def _read(self, artwork: Artwork) -> Prepared | ImageError | None:
        """The pixels kept for the artwork's cached file, if there are any for this very file."""
        if self._stopping.is_set():
            return NOT_STARTED  # type: ignore[return-value]  # never reaches a forward batch
        return self.guarded(artwork, lambda: self._read_file(artwork))

    def _read_file(self, artwork: Artwork) -> Prepared | None:
        try:
            pixels = self.kept.read(self.cache.path_for(artwork.image_id))
        except FileNotFoundError:
            return None  # not cached: the wrapped source fetches it
        if pixels is None:
            return None
        return np.frombuffer(pixels, dtype=np.uint8).reshape(*self.kept.crop, 3)
