"""IIIF images on local disk: each image is downloaded once, then read from the cache."""

from __future__ import annotations

import logging
import os
import random
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from django.conf import settings
from PIL import Image

from embeddings.decoding import ImageError as ImageError
from embeddings.decoding import check_image_bytes, decode_image
from embeddings.rate_limit import SharedRateLimiter, iiif_rate_limiter

logger = logging.getLogger(__name__)

_IMAGE_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$")
_RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


@dataclass
class ImageCache:
    root: Path
    iiif_base: str
    width: int
    limiter: SharedRateLimiter | None
    timeout: float = 30.0
    max_retries: int = 3
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    session: requests.Session = field(default_factory=requests.Session)
    downloads: int = 0

    @classmethod
    def from_settings(cls) -> ImageCache:
        return cls(
            root=settings.IMAGE_CACHE_DIR,
            iiif_base=settings.AIC_IIIF_URL,
            width=settings.IIIF_IMAGE_WIDTH,
            limiter=iiif_rate_limiter(),
            timeout=settings.IIIF_TIMEOUT_SECONDS,
            max_retries=settings.IIIF_MAX_RETRIES,
            max_bytes=settings.IMAGE_MAX_BYTES,
            max_pixels=settings.IMAGE_MAX_PIXELS,
        )

    def path_for(self, image_id: str) -> Path:
        if not _IMAGE_ID.match(image_id):
            raise ImageError(f"image id {image_id[:80]!r} is not a IIIF identifier")
        return self.root / f"w{self.width}" / image_id[:2] / f"{image_id}.jpg"

    def url_for(self, image_id: str) -> str:
        return f"{self.iiif_base}/{image_id}/full/{self.width},/0/default.jpg"

    def fetch(self, image_id: str) -> Path:
        """The cached file for ``image_id``, downloading it first if needed."""
        path = self.path_for(image_id)
        if path.exists():
            return path
        data = self._download(image_id)
        check_image_bytes(data, self.max_pixels)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file and a crash leaves no partial image.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
        return path

    def open(self, image_id: str, draft_size: tuple[int, int] | None = None) -> Image.Image:
        """Fetch (or read) the image and decode it to RGB, upright as EXIF says.

        ``draft_size``: the smallest size the caller needs; a JPEG may then decode at 1/2, 1/4 or
        1/8 scale (in the DCT, much faster), never below that size.
        """
        path = self.fetch(image_id)
        try:
            return decode_image(path.read_bytes(), self.max_pixels, draft_size)
        except ImageError:
            path.unlink(missing_ok=True)  # never keep an undecodable file in the cache
            raise

    def _download(self, image_id: str) -> bytes:
        url = self.url_for(image_id)
        problem = ""
        for attempt in range(self.max_retries + 1):
            if self.limiter is not None:
                self.limiter.wait()
            try:
                data, status = self._get(url)
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if status == 200:
                    self.downloads += 1
                    return data
                if status not in _RETRY_STATUSES:
                    raise ImageError(f"IIIF HTTP {status} for {url}")
                problem = f"IIIF HTTP {status}"
            if attempt < self.max_retries:
                time.sleep(min(30.0, 0.5 * 2**attempt * random.uniform(0.5, 1.5)))
        raise ImageError(f"{problem} for {url} after {self.max_retries + 1} attempts", transient=True)

    def _get(self, url: str) -> tuple[bytes, int]:
        with self.session.get(url, timeout=self.timeout, stream=True) as response:
            if response.status_code != 200:
                return b"", response.status_code
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > self.max_bytes:
                raise ImageError(f"image is {declared} bytes (limit {self.max_bytes})")
            chunks: list[bytes] = []
            received = 0
            for chunk in response.iter_content(64 * 1024):
                received += len(chunk)
                if received > self.max_bytes:
                    raise ImageError(f"image is over {self.max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks), 200
