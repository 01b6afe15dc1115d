"""Model-ready pixels beside the image cache, so that embedding a cached image again costs a read.

A GPU worker re-embedding the collection (a fine-tuned model, a second worker) would otherwise
decode every cached JPEG and resize it again, and on a GPU machine that CPU work, not the image
tower, bounds the rate (``bench.embed`` measures both paths). Each image's resize-and-crop output
for one preprocessing recipe is kept raw instead (height x width x 3 bytes), and reading it back is a
plain file read, with nothing to decode or resample. The pixels are PIL's, byte for byte, so a vector does not
depend on whether its image came from here or was decoded afresh.

Layout: ``<root>/<recipe key>/<the image's path in the image cache>.rgb``. A file is a 24-byte
header, the source JPEG's size, modification time (ns) and inode, then height x width x 3 bytes:
pixels of a JPEG fetched again (another file) are never served. Files are written then renamed,
so a reader never sees half of one. The folder may be deleted at any time; it fills again as
images are embedded.

A read marks its file used by moving the file's modification time to now (access times are not
kept on relatime or noatime mounts), at most once per ``TOUCH_INTERVAL_SECONDS``, so reading
costs no metadata write most of the time. ``cache_pruning.enforce_pixel_cache_limit`` evicts the
files used longest ago when the cache outgrows EMBED_PIXEL_CACHE_MAX_GB.

Like ``decoding``, nothing here imports Django, numpy or PyTorch: decoding processes use it too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import PIL

from embeddings.images.decoding import ResizeCrop

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("<QQQ")  # the source file's size, st_mtime_ns and inode
# Eviction orders files by their last use to within this: finer would write metadata on most reads.
TOUCH_INTERVAL_SECONDS = 3600.0
# A full disk fails every write, thousands a second on a GPU worker: one warning a minute says it.
_WARNING_INTERVAL_SECONDS = 60.0
_warned_at: float | None = None
_unwarned = 0
_warning_lock = threading.Lock()


@dataclass(frozen=True)
class PixelCache:
    """The pixel files of one recipe: ``folder`` mirrors the image cache at ``images``."""

    images: Path
    folder: Path
    crop: tuple[int, int]  # (height, width) of every file's pixels

    @classmethod
    def for_recipe(cls, root: Path, images: Path, recipe: ResizeCrop, draft_size: tuple[int, int] | None) -> PixelCache:
        """The cache for ``recipe`` under ``root``: one folder per recipe, draft size and Pillow version,
        since each of them changes the pixels."""
        return cls(images=images, folder=root / recipe_key(recipe, draft_size), crop=recipe.crop)

    @property
    def pixel_bytes(self) -> int:
        return self.crop[0] * self.crop[1] * 3

    def path_for(self, source: Path) -> Path | None:
        """Where the pixels of the cached image ``source`` go; None for a file outside the image cache."""
        try:
            relative = source.relative_to(self.images)
        except ValueError:
            return None
        return self.folder / relative.with_suffix(".rgb")

    def read(self, source: Path) -> bytes | None:
        """The pixels stored for this very file ``source``; None where there are none (or stale ones).
        FileNotFoundError where ``source`` is not in the image cache."""
        stat = source.stat()
        target = self.path_for(source)
        if target is None:
            return None
        try:
            with open(target, "rb") as handle:
                data = handle.read(_HEADER.size + self.pixel_bytes + 1)
                _mark_used(handle.fileno())
        except FileNotFoundError:
            return None
        except OSError as exc:
            _warn(f"pixel cache: cannot read {target}: {exc}")
            return None
        if len(data) != _HEADER.size + self.pixel_bytes or data[: _HEADER.size] != _signature(stat):
            return None
        return data[_HEADER.size :]

    def signature(self, source: Path) -> bytes | None:
        """What identifies the cached file ``source`` now (None where it is not cached): taken before
        reading it, so that pixels are never kept under the name of a file that replaced it meanwhile."""
        try:
            return _signature(source.stat())
        except FileNotFoundError:
            return None

    def write(self, source: Path, pixels: bytes, signature: bytes) -> None:
        """Keep ``pixels``, made from the file ``source`` whose ``signature`` was taken before it was read.
        A cache that cannot be written is logged and skipped: the image was embedded all the same."""
        target = self.path_for(source)
        if target is None or len(pixels) != self.pixel_bytes:
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(signature)
                    handle.write(pixels)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            _warn(f"pixel cache: cannot write {target}: {exc}")

    def as_dict(self) -> dict[str, object]:
        return {"images": str(self.images), "folder": str(self.folder), "crop": list(self.crop)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> PixelCache:
        crop = data["crop"]
        assert isinstance(crop, list)
        return cls(images=Path(str(data["images"])), folder=Path(str(data["folder"])), crop=(crop[0], crop[1]))


def recipe_key(recipe: ResizeCrop, draft_size: tuple[int, int] | None) -> str:
    """A folder name for the pixels of ``recipe``: readable at a glance, distinct for any change."""
    described = json.dumps({"recipe": recipe.as_dict(), "draft": draft_size, "pillow": PIL.__version__})
    digest = hashlib.sha256(described.encode()).hexdigest()[:12]
    return f"{recipe.crop[0]}x{recipe.crop[1]}-{digest}"


def _warn(message: str) -> None:
    """Log ``message``, or count it if this process warned less than a minute ago."""
    global _warned_at, _unwarned
    with _warning_lock:
        now = time.monotonic()
        if _warned_at is not None and now - _warned_at < _WARNING_INTERVAL_SECONDS:
            _unwarned += 1
            return
        also = f" (and {_unwarned} more such problems since the last warning)" if _unwarned else ""
        _warned_at, _unwarned = now, 0
    logger.warning("%s%s; images are embedded without it", message, also)


def _mark_used(fd: int) -> None:
    """Move the open file's modification time to now, unless it was moved within the touch interval.
    A file that cannot be touched (a read-only cache) is read all the same."""
    try:
        if time.time() - os.fstat(fd).st_mtime > TOUCH_INTERVAL_SECONDS:
            os.utime(fd)
    except OSError:
        pass


def _signature(stat: os.stat_result) -> bytes:
    return _HEADER.pack(stat.st_size, stat.st_mtime_ns, stat.st_ino)
