"""Which pixel source an embedding task uses, from the EMBED_* settings and the encoder.

EMBED_DECODE_ON_DEVICE (where the model's resize has a filter torch has) decodes on the device;
otherwise EMBED_DECODE_PROCESSES decoding processes, or threads; and EMBED_PIXEL_CACHE puts the
pixel cache in front of either of those two.
"""

from __future__ import annotations

import os

from django.conf import settings

from embeddings.encoders.clip import ImageEncoder
from embeddings.feeding.base import PixelSource
from embeddings.feeding.decoder_processes import ProcessDecoding
from embeddings.feeding.kept_pixels import KeptPixels
from embeddings.feeding.on_device import OnDeviceDecoding
from embeddings.feeding.threads import ThreadDecoding
from embeddings.images.decoding_processes import decoder_pool
from embeddings.images.device_decoding import takes
from embeddings.images.iiif_cache import ImageCache
from embeddings.images.pixel_cache import PixelCache


def choose_pixel_source(cache: ImageCache, encoder: ImageEncoder) -> PixelSource:
    """The pixel source for one embedding task with ``encoder``, reading and filling ``cache``."""
    if decodes_on_device(encoder):
        return OnDeviceDecoding(cache, encoder)
    kept = pixel_cache(encoder, cache)
    processes = decode_processes(encoder)
    inner = (
        ProcessDecoding(cache, encoder, decoder_pool(processes), keep_in=kept)
        if processes
        else ThreadDecoding(cache, encoder, keep_in=kept)
    )
    return KeptPixels(inner, kept) if kept is not None else inner


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
