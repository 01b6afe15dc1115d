"""Feeding by the device: threads only read cached JPEGs; each forward batch is decoded, resized and
cropped on the model's device (EMBED_DECODE_ON_DEVICE, ``embeddings.images.device_decoding``).

An image the device path does not take (another format, an EXIF rotation, a file its decoder
refuses) goes through PIL in the thread, as ``threads`` does it.
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

from catalog.models import Artwork
from embeddings.encoders.clip import Prepared
from embeddings.feeding.base import Loaded
from embeddings.feeding.threads import ThreadDecoding
from embeddings.images.device_decoding import DevicePixels, EncodedJpeg, decode_on_device, device_jpeg, resize_crop
from embeddings.images.types import ImageError


class OnDeviceDecoding(ThreadDecoding):
    """Cached JPEGs decoded with their forward batch on the device; PIL in a thread for the others."""

    def load(self, chunk: list[Artwork]) -> list[Loaded]:
        return [self._load_one(artwork) for artwork in chunk]

    def _load_one(self, artwork: Artwork) -> Loaded:
        return self.load_here(artwork, lambda path: self._read(artwork, path))

    def _read(self, artwork: Artwork, path: Path) -> Loaded:
        with suppress(FileNotFoundError):  # evicted meanwhile: fetched again below
            jpeg = device_jpeg(path.read_bytes(), self.cache.max_pixels)
            if jpeg is not None:
                return jpeg  # decoded with its forward batch, on the device
        return self._decode(artwork, path)

    def finish(self, outcomes: list[tuple[Artwork, Loaded]]) -> list[tuple[Artwork, Prepared | ImageError]]:
        """The batch with its EncodedJpegs decoded, resized and cropped on the device, in one decoding call;
        an image the device's decoder refuses goes through PIL's path."""
        jpegs = [outcome for _, outcome in outcomes if isinstance(outcome, EncodedJpeg)]
        decoded = iter(decode_on_device(jpegs, self.encoder.device))
        batch: list[tuple[Artwork, Prepared | ImageError]] = []
        for artwork, outcome in outcomes:
            if not isinstance(outcome, EncodedJpeg):
                batch.append((artwork, outcome))
                continue
            image = next(decoded)
            if image is None or self.encoder.recipe is None:
                batch.append((artwork, self.decode_here(artwork)))
            else:
                batch.append((artwork, DevicePixels(resize_crop(image, self.encoder.recipe))))
        return batch
