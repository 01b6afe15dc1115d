"""Feeding by decoding processes: cached images decoded, resized and cropped outside this interpreter.

In front of a GPU one interpreter's threads cannot decode as fast as the model embeds
(``bench.embed`` measures it): each thread borrows a process of the ``decoding_processes`` pool for
a chunk of cached images. An image not in the cache is fetched and decoded in the thread, as
``threads`` does it.
"""

from __future__ import annotations

from pathlib import Path

from catalog.models import Artwork
from embeddings.encoders.clip import ImageEncoder, Prepared
from embeddings.feeding.base import Loaded, decode_threads
from embeddings.feeding.threads import ThreadDecoding
from embeddings.images.decoding_processes import MISSING, DecoderPool
from embeddings.images.iiif_cache import ImageCache
from embeddings.images.pixel_cache import PixelCache
from embeddings.images.types import ImageError

# Most images per request to a decoding process: few enough that the first forward batch starts
# soon, enough that the pixels cross in large reads.
PROCESS_CHUNK = 16


class ProcessDecoding(ThreadDecoding):
    """The ``pool``'s processes for cached images, one thread per process; PIL in the thread for the rest.
    With ``keep_in`` the processes (and threads) keep the pixels they make there."""

    # A thread talking to a decoding process is waited for, so that no answer is left in a pipe.
    waits_for_threads = True

    def __init__(
        self, cache: ImageCache, encoder: ImageEncoder, pool: DecoderPool, keep_in: PixelCache | None = None
    ) -> None:
        assert encoder.recipe is not None, "decoding processes need the model's ResizeCrop recipe"
        super().__init__(cache, encoder, keep_in)
        self.pool = pool

    def chunk_size(self, artworks: int) -> int:
        """Every decoding process gets work, up to PROCESS_CHUNK images per request."""
        return min(PROCESS_CHUNK, -(-artworks // self.pool.size))

    def thread_count(self, chunks: int) -> int:
        return decode_threads(chunks, self.pool.size)

    def load(self, chunk: list[Artwork]) -> list[Loaded]:
        """Cached images through a decoding process, the others fetched and decoded in this thread."""
        paths = [self.cache.path_for(artwork.image_id) for artwork in chunk]
        decoded = self._in_process(paths)
        return [
            self.decode_here(artwork) if outcome is None else outcome
            for artwork, outcome in zip(chunk, decoded, strict=True)
        ]

    def _in_process(self, paths: list[Path]) -> list[Prepared | ImageError | None]:
        """These cached files prepared by a decoding process; None for those not in the cache (any more)."""
        recipe = self.encoder.recipe
        assert recipe is not None
        outcomes = self.pool.prepare(paths, self.cache.max_pixels, self.encoder.draft_size, recipe, self.keep_in)
        for path, outcome in zip(paths, outcomes, strict=True):
            if isinstance(outcome, ImageError):
                path.unlink(missing_ok=True)  # never keep an undecodable file in the cache
        return [None if outcome is MISSING else outcome for outcome in outcomes]
