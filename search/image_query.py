"""Search by image: an uploaded picture, checked from its header, decoded small, embedded by the image tower.

The image tower is its ONNX export on ONNX Runtime (``embeddings.encoders.image_onnx``), without
PyTorch, unless SEARCH_ENCODER_RUNTIME is "torch".

The upload is never written anywhere: it arrives in memory (search/uploads.py caps it at
IMAGE_MAX_BYTES), its format and pixel count are read from its header and refused before any decoding
(IMAGE_UPLOAD_MAX_PIXELS, formats), it is decoded at the size the model needs (``draft`` and
``reduce``), embedded, and dropped. Its vector alone may be kept a while under a token
(search/image_tokens.py), so the search can be paged and filtered without sending the image again.

An image search may carry words as well ("in winter"): the image's vector and the words' (the same
model's text tower) are each normalised, summed with IMAGE_SEARCH_TEXT_WEIGHT (or the request's
``text_weight``) as the words' share, and normalised again.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from django.conf import settings
from django.utils.translation import gettext as _
from ninja import Field
from PIL import Image, UnidentifiedImageError

from embeddings.encoders.per_process import get_image_query_encoder
from embeddings.images.decoding import decode_image
from embeddings.images.types import ImageError
from embeddings.models import EmbeddingModel
from search.params import FilterParams
from search.types import ImageSearchBusy, SearchError
from search.uploads import too_large_message

ACCEPTED_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF"}

_slots_lock = threading.Lock()
_slots_in_use = 0


def upload_max_pixels() -> int:
    """The most pixels an upload may have: IMAGE_UPLOAD_MAX_PIXELS, never more than harvested images."""
    return min(int(settings.IMAGE_UPLOAD_MAX_PIXELS), int(settings.IMAGE_MAX_PIXELS))


def check_upload(data: bytes) -> None:
    """Refuse (SearchError, 400) an upload by its size, and by the format and pixel count its header
    declares. ``Image.open`` reads the header only (for a PNG, the chunks before the pixel data);
    nothing is decoded here."""
    if len(data) > settings.IMAGE_MAX_BYTES:
        raise SearchError(too_large_message(settings.IMAGE_MAX_BYTES))
    if not data:
        raise SearchError(_("image is empty (0 bytes)"))
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format or "unknown"
            width, height = probe.size
    except Image.DecompressionBombError as exc:
        raise SearchError(_("image is too large: %(reason)s") % {"reason": exc}) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        kind, width, height = "unknown", 0, 0
    if kind not in ACCEPTED_FORMATS:
        accepted = ", ".join(ACCEPTED_FORMATS.values())
        raise SearchError(
            _("image type %(kind)s is not accepted: send %(accepted)s") % {"kind": kind, "accepted": accepted}
        )
    limit = upload_max_pixels()
    if width * height > limit:
        shape = {"width": width, "height": height, "limit": limit}
        raise SearchError(_("image is %(width)sx%(height)s pixels (limit %(limit)s): choose a smaller image") % shape)


def read_upload(data: bytes, draft_size: tuple[int, int] | None) -> Image.Image:
    """A checked upload as an RGB image, decoded no larger than needed for sides of ``draft_size``;
    SearchError (400) for anything refused."""
    check_upload(data)
    try:
        return decode_image(data, upload_max_pixels(), draft_size, reduce=True)
    except ImageError as exc:
        raise SearchError(exc.reason) from None


@contextmanager
def image_tower_slot() -> Iterator[None]:
    """Hold one of this process's IMAGE_SEARCH_CONCURRENCY image-tower slots, or raise ImageSearchBusy
    at once: threads queued behind the tower would each hold a request (and its upload) while the
    cores are already full, and answer late anyway."""
    global _slots_in_use
    with _slots_lock:
        if _slots_in_use >= settings.IMAGE_SEARCH_CONCURRENCY:
            raise ImageSearchBusy()
        _slots_in_use += 1
    try:
        yield
    finally:
        with _slots_lock:
            _slots_in_use -= 1


def embed_upload(model: EmbeddingModel, data: bytes) -> np.ndarray:
    """The vector of an uploaded image under ``model``; SearchError (400) for an upload refused, which
    is checked before the model is loaded; decoded and embedded while holding an image-tower slot."""
    check_upload(data)
    with image_tower_slot():
        encoder = get_image_query_encoder(model)
        return embed_image(model, read_upload(data, encoder.draft_size))


def embed_image(model: EmbeddingModel, image: Image.Image) -> np.ndarray:
    """The L2-normalised image vector of ``image`` under ``model``, as the pipeline embeds artworks:
    with the image tower's ONNX export (SEARCH_ENCODER_RUNTIME=onnx), else with open_clip."""
    encoder = get_image_query_encoder(model)
    return np.asarray(encoder.encode_images([image])[0], dtype=np.float32)


class ImageSearchParams(FilterParams):
    """What an image search takes besides the image: words to search with it, their weight, the token
    of an earlier upload (instead of the image), the filters and the page."""

    q: str = Field("", description="Words to search with the image, e.g. 'in winter' (optional)")
    text_weight: float | None = Field(
        None, ge=0.0, le=1.0, description="The words' share against the image's, 0 to 1 (IMAGE_SEARCH_TEXT_WEIGHT)"
    )
    token: str | None = Field(
        None,
        max_length=64,
        description="The token an earlier image search answered: its image's vector, to page or filter without "
        "sending the image again (it lasts IMAGE_SEARCH_TOKEN_SECONDS)",
    )

    def words(self) -> str:
        """The words with whitespace collapsed ('' for none); SearchError when too long."""
        words = " ".join(self.q.split())
        if len(words) > settings.SEARCH_MAX_QUERY_LENGTH:
            raise SearchError(f"q is longer than {settings.SEARCH_MAX_QUERY_LENGTH} characters")
        return words

    def weight(self) -> float:
        return float(settings.IMAGE_SEARCH_TEXT_WEIGHT if self.text_weight is None else self.text_weight)


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def combined_vector(image: np.ndarray, words: np.ndarray, text_weight: float) -> np.ndarray:
    """The query vector of an image with words: ``(1 - w) * image + w * words``, both L2-normalised
    first (so ``w`` is the words' share whatever the towers' scales), the sum L2-normalised again.
    Should the two cancel out, the image alone is searched."""
    combined = _unit((1.0 - text_weight) * _unit(image) + text_weight * _unit(words))
    if not np.any(combined):
        combined = _unit(image)
    return combined.astype(np.float32)
