"""Feeding by threads: each image fetched, decoded, resized and cropped with PIL in this process.

File reads, JPEG decoding and resizing release the GIL, so the threads prepare the next forward
batch while the model runs the current one; on a CPU that keeps up with the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from catalog.models import Artwork
from embeddings.encoders.clip import ImageEncoder, Prepared
from embeddings.feeding.base import Loaded, PixelSource
from embeddings.images.device_decoding import EncodedJpeg
from embeddings.images.iiif_cache import ImageCache
from embeddings.images.pixel_cache import PixelCache
from embeddings.images.types import ImageError


class ThreadDecoding(PixelSource):
    """PIL in a thread of this process, image by image. With ``keep_in`` the pixels it makes are kept
    there (the pixel cache) for the next embedding of the same file."""

    def __init__(self, cache: ImageCache, encoder: ImageEncoder, keep_in: PixelCache | None = None) -> None:
        super().__init__(cache, encoder)
        self.keep_in = keep_in

    def load(self, chunk: list[Artwork]) -> list[Loaded]:
        return [self.decode_here(artwork) for artwork in chunk]

    def decode_here(self, artwork: Artwork) -> Prepared | ImageError:
        """The artwork's image fetched (if need be), decoded, resized and cropped in this thread."""
        outcome = self.load_here(artwork, lambda path: self._decode(artwork, path))
        assert not isinstance(outcome, EncodedJpeg)
        return outcome

    def _decode(self, artwork: Artwork, path: Path) -> Prepared:
        kept = self.keep_in
        signature = kept.signature(path) if kept is not None else None
        prepared = self.encoder.prepare(self.cache.open(artwork.image_id, draft_size=self.encoder.draft_size))
        if kept is not None and signature is not None and isinstance(prepared, np.ndarray):
            kept.write(path, prepared.tobytes(), signature)
        return prepared
