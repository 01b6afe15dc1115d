"""Search by image: an uploaded picture, read in memory, checked, embedded by the image tower.

The upload is never written anywhere: it is read into memory (at most IMAGE_MAX_BYTES), decoded
with the same checks as harvested images (IMAGE_MAX_PIXELS, formats), embedded, and dropped.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest
from PIL import Image, UnidentifiedImageError

from embeddings.decoding import ImageError, decode_image
from embeddings.models import EmbeddingModel
from search.ranking import SearchError

ACCEPTED_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF"}
# Room for the multipart envelope and the other form fields around the image.
_ENVELOPE_BYTES = 64 * 1024
# What a refused image search tells the client to wait: a slot frees as soon as one search ends.
BUSY_RETRY_AFTER_SECONDS = 2


class ImageSearchBusy(SearchError):
    """Every image-tower slot of this process is taken: 503, to try again after ``retry_after`` seconds."""

    def __init__(self) -> None:
        super().__init__("the image search is busy, try again in a moment", status=503)
        self.retry_after = BUSY_RETRY_AFTER_SECONDS


_slots_lock = threading.Lock()
_slots_in_use = 0


class MemoryOnlyUploadHandler(FileUploadHandler):
    """Keeps an upload in memory and stops reading once it passes IMAGE_MAX_BYTES."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit = settings.IMAGE_MAX_BYTES
        self.received = 0
        self.too_large = False
        self.buffer = io.BytesIO()

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.too_large = True
            raise StopUpload(connection_reset=False)
        self.buffer.write(raw_data)

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def memory_only_uploads(view: Callable[..., Any]) -> Callable[..., Any]:
    """Read this view's uploads with MemoryOnlyUploadHandler (before anything reads the body)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > settings.IMAGE_MAX_BYTES + _ENVELOPE_BYTES:
            request.upload_refused = f"image is over {settings.IMAGE_MAX_BYTES} bytes"  # type: ignore[attr-defined]
            request.upload_handlers = []
        else:
            request.upload_handlers = [MemoryOnlyUploadHandler(request)]
        return view(request, *args, **kwargs)

    return wrapper


def upload_problem(request: HttpRequest) -> str:
    """Why the upload was cut short, or ''."""
    refused: str = getattr(request, "upload_refused", "")
    if refused:
        return refused
    for handler in getattr(request, "upload_handlers", []):
        if isinstance(handler, MemoryOnlyUploadHandler) and handler.too_large:
            return f"image is over {handler.limit} bytes"
    return ""


def read_upload(data: bytes) -> Image.Image:
    """The uploaded bytes as an RGB image; SearchError (400) for anything refused."""
    if len(data) > settings.IMAGE_MAX_BYTES:
        raise SearchError(f"image is over {settings.IMAGE_MAX_BYTES} bytes")
    try:
        # Reads the header only: the format, and the size the bomb check looks at.
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format or "unknown"
    except Image.DecompressionBombError as exc:
        raise SearchError(f"image is too large: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        kind = "unknown" if data else ""
    if data and kind not in ACCEPTED_FORMATS:
        raise SearchError(f"image type {kind} is not accepted: send {', '.join(ACCEPTED_FORMATS.values())}")
    try:
        return decode_image(data, settings.IMAGE_MAX_PIXELS)
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
    """The image vector of uploaded bytes: decoded and embedded while holding an image-tower slot."""
    with image_tower_slot():
        return embed_image(model, read_upload(data))


def embed_image(model: EmbeddingModel, image: Image.Image) -> np.ndarray:
    """The L2-normalised image vector of ``image`` under ``model``, as the pipeline embeds artworks."""
    # Imported here: a web process loads PyTorch only once someone searches by image.
    from embeddings.clip import get_image_encoder

    encoder = get_image_encoder(model)
    return np.asarray(encoder.encode(encoder.preprocess_image(image).unsqueeze(0))[0], dtype=np.float32)
