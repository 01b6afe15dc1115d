"""IIIF images on local disk: each image is downloaded once, then read from the cache.

A download that meets what passes (a timeout, a reset or refused connection, a failed DNS lookup,
408, 425, 429 or 5xx) is tried again after a jittered backoff, or after the server's Retry-After,
and an ImageError with ``transient=True`` says that retries ran out. What a retry cannot change
(404, 403, 410, 400 or any other status, bytes that are not an image, an image over the limits)
raises at once with ``transient=False``.

Layout: ``<root>/w<width>/<first two characters of the id>/<image id>.jpg``. While an image downloads,
its fetcher holds a lock on ``<image id>.lock.part`` beside it, so that another thread or worker wanting
the same image (the threads a timed-out task left running, the task that took its work over) waits for
that download instead of making a second one.

Where the site shares its caches (ARTIFACT_STORE_SHARED_CACHES, on by default with an ARTIFACT_STORE_URL),
the cache reads through the artifact store: an image missing here is looked for under
``images/<image id>/<width>.jpg`` before IIIF, and an image downloaded from IIIF is stored there, so a
fleet of hosts downloads each image once under the one IIIF rate limit. A store that cannot be reached
raises StoreUnavailable, which tasks wait out like a database restart: an image is never recorded as
failed because the store was away.
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import requests
from django.conf import settings
from PIL import Image

from catalog.aic_client import parse_retry_after
from core.artifacts import ArtifactMissing, ArtifactStore, StoreUnavailable, artifact_store
from embeddings.images.cache_pruning import remove_image_files
from embeddings.images.decoding import check_image_bytes, decode_image
from embeddings.images.rate_limit import SharedRateLimiter, iiif_rate_limiter
from embeddings.images.types import ImageError

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
    # Pixel files of every preprocessing recipe (pixel_cache.py); None: the folder "pixels" in ``root``.
    pixel_root: Path | None = None
    backoff: float = 0.5  # seconds before the first retry, doubling with each, jittered
    # A Retry-After longer than this is cut to it: every image of a batch waits behind the one
    # retrying, so an hour's maintenance window is better met by failing transient and retrying later.
    max_retry_after: float = 60.0
    session: requests.Session = field(default_factory=requests.Session)
    # The shared store this cache reads through; None: IIIF alone.
    store: ArtifactStore | None = None
    downloads: int = 0  # from IIIF
    from_store: int = 0

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
            pixel_root=settings.EMBED_PIXEL_CACHE_DIR,
            store=artifact_store() if settings.ARTIFACT_STORE_SHARED_CACHES else None,
        )

    @property
    def pixels_root(self) -> Path:
        """The folder holding one folder of pixel files per preprocessing recipe."""
        return self.pixel_root or self.root / "pixels"

    def path_for(self, image_id: str) -> Path:
        if not _IMAGE_ID.match(image_id):
            raise ImageError(f"image id {image_id[:80]!r} is not a IIIF identifier")
        return self.root / f"w{self.width}" / image_id[:2] / f"{image_id}.jpg"

    def key_for(self, image_id: str) -> str:
        """The image's key in the artifact store."""
        return f"images/{image_id}/{self.width}.jpg"

    def url_for(self, image_id: str) -> str:
        return f"{self.iiif_base}/{image_id}/full/{self.width},/0/default.jpg"

    def fetch(self, image_id: str) -> Path:
        """The cached file for ``image_id``, downloading it first if needed."""
        path = self.path_for(image_id)
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        with _downloading(path):
            if path.exists():  # another thread or worker fetched it while this one waited
                return path
            if self._from_store(image_id, path):
                return path
            data = self._download(image_id)
            check_image_bytes(data, self.max_pixels)
            # Write then rename, so a reader never sees half a file and a crash leaves no partial image.
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
            self._to_store(image_id, path)
        return path

    def _from_store(self, image_id: str, path: Path) -> bool:
        """Whether the store had the image (now at ``path``); raises StoreUnavailable when it cannot say."""
        if self.store is None:
            return False
        try:
            self.store.download(self.key_for(image_id), path)
        except ArtifactMissing:
            return False
        self.from_store += 1
        return True

    def _forget_stored(self, image_id: str) -> None:
        if self.store is None:
            return
        try:
            self.store.delete(self.key_for(image_id))
        except StoreUnavailable as exc:
            logger.warning("image %s: its undecodable copy stays in the store: %s", image_id, exc)

    def _to_store(self, image_id: str, path: Path) -> None:
        if self.store is None:
            return
        try:
            self.store.upload(path, self.key_for(image_id))
        except StoreUnavailable as exc:
            # The image is cached here and used; only other hosts will download it again.
            logger.warning("image %s is not shared: %s", image_id, exc)

    def open(self, image_id: str, draft_size: tuple[int, int] | None = None) -> Image.Image:
        """Fetch (or read) the image and decode it to RGB, upright as EXIF says.

        ``draft_size``: the smallest size the caller needs; a JPEG may then decode at 1/2, 1/4 or
        1/8 scale (in the DCT, much faster), never below that size.
        """
        path = self.fetch(image_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # removed meanwhile (a sweep, a withdrawn record): fetched again
            data = self.fetch(image_id).read_bytes()
        try:
            return decode_image(data, self.max_pixels, draft_size)
        except ImageError:
            path.unlink(missing_ok=True)  # never keep an undecodable file in the cache
            self._forget_stored(image_id)  # nor in the store, whence every host would take it again
            raise

    def remove(self, image_id: str) -> int:
        """Delete this image's cached files, at every width and in every recipe's pixel folder, and its
        copies in the store (a withdrawn record); the number of local files deleted."""
        if not _IMAGE_ID.match(image_id):
            return 0  # nothing can have been cached under it
        if self.store is not None:
            try:
                self.store.delete(f"images/{image_id}/")
            except StoreUnavailable as exc:
                logger.warning("image %s stays in the store: %s", image_id, exc)
        return remove_image_files(self.root, self.pixels_root, image_id)

    def _download(self, image_id: str) -> bytes:
        url = self.url_for(image_id)
        problem = ""
        for attempt in range(self.max_retries + 1):
            if self.limiter is not None:
                self.limiter.wait()
            retry_after: float | None = None
            try:
                data, status, retry_after = self._get(url)
            except requests.RequestException as exc:
                # Timeouts, resets, refused connections and DNS failures (a ConnectionError around
                # urllib3's NameResolutionError) all pass; so may a bad AIC_IIIF_URL, once corrected.
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if status == 200:
                    self.downloads += 1
                    return data
                if status not in _RETRY_STATUSES:
                    raise ImageError(f"IIIF HTTP {status} for {url}", transient=False)
                problem = f"IIIF HTTP {status}"
            if attempt < self.max_retries:
                delay = self._retry_delay(attempt, retry_after)
                logger.info("image %s: %s; retry %d in %.1fs", image_id, problem, attempt + 1, delay)
                time.sleep(delay)
        raise ImageError(f"{problem} for {url} after {self.max_retries + 1} attempts", transient=True)

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        """The server's Retry-After (capped), or exponential backoff; both jittered upwards, so that the
        threads and workers turned away together do not all come back in the same instant."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after) * random.uniform(1.0, 1.2)
        return min(30.0, self.backoff * 2**attempt * random.uniform(0.5, 1.5))

    def _get(self, url: str) -> tuple[bytes, int, float | None]:
        """The body (only of a 200), the status, and the seconds a Retry-After header asks for."""
        with self.session.get(url, timeout=self.timeout, stream=True) as response:
            if response.status_code != 200:
                return b"", response.status_code, parse_retry_after(response.headers.get("Retry-After"))
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > self.max_bytes:
                raise ImageError(f"image is {declared} bytes (limit {self.max_bytes})", transient=False)
            chunks: list[bytes] = []
            received = 0
            for chunk in response.iter_content(64 * 1024):
                received += len(chunk)
                if received > self.max_bytes:
                    raise ImageError(f"image is over {self.max_bytes} bytes", transient=False)
                chunks.append(chunk)
            return b"".join(chunks), 200, None


@contextmanager
def _downloading(path: Path) -> Iterator[None]:
    """Hold the download lock of the image cached at ``path`` (an flock, so it is released however its
    holder ends). The lock file is removed on the way out: a fetcher that then takes the removed file's
    lock finds the image already there, and a ``.part`` left by a crash is the cache sweep's to delete."""
    lock_path = path.with_name(f"{path.stem}.lock.part")
    fd = os.open(lock_path, os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with suppress(FileNotFoundError):
            os.unlink(lock_path)
        os.close(fd)
