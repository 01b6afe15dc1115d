"""Keeping the image and pixel caches on disk bounded: what a periodic sweep deletes from them.

Two passes, each one walk of the folders with no database query per file:
``prune_image_files`` deletes the files of images no record uses any more (and writes a crash left
half done), ``enforce_pixel_cache_limit`` evicts the pixel files used longest ago when that cache
outgrows its bound. Writers never wait for either: a GPU worker writes pixel files as fast as it
embeds, and the cache may run over its bound until the next sweep. Deleting is always safe for a
reader: an image gone from the cache is downloaded again, pixels gone are decoded again.

Layouts (``iiif_cache``, ``pixel_cache``): ``<image root>/w<width>/<2 chars>/<image id>.jpg`` and
``<pixel root>/<recipe key>/w<width>/<2 chars>/<image id>.rgb``; temporary files end in ``.part``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_WIDTH_FOLDER = re.compile(r"^w[0-9]+$")
# Eviction stops once the cache is this share of its bound, so the next sweep has room to spare
# instead of evicting a few files every time.
EVICT_DOWN_TO = 0.9


@dataclass
class PruneResult:
    """What ``prune_image_files`` deleted."""

    images: int = 0  # cached JPEGs of images no record uses
    pixels: int = 0  # pixel files of such images, every recipe's
    partials: int = 0  # temporary files a crashed or killed write left behind
    bytes: int = 0  # their size, together
    errors: int = 0  # files that could not be deleted (logged once)

    @property
    def files(self) -> int:
        return self.images + self.pixels + self.partials


def prune_image_files(
    image_root: Path, pixel_root: Path | None, keep: set[str], older_than_seconds: float
) -> PruneResult:
    """Delete the cached files of every image whose id is not in ``keep``, at every width and in every
    recipe's pixel folder, and every ``.part`` file; only files older than ``older_than_seconds`` (by
    modification time), so that the download of a record committed since ``keep`` was read, or a write
    under way, stays. An empty ``keep`` deletes every file old enough. Files of other names stay.

    One walk; a file whose id is in ``keep`` costs a set lookup and no ``stat``.
    """
    cutoff = time.time() - older_than_seconds
    result = PruneResult()
    for folder in _width_folders(image_root):
        _prune_folder(folder, ".jpg", keep, cutoff, result)
    if pixel_root is not None:
        for recipe in _subfolders(pixel_root):
            for folder in _width_folders(recipe):
                _prune_folder(folder, ".rgb", keep, cutoff, result)
    if result.errors:
        logger.warning("cache pruning: %d files could not be deleted (see the first above)", result.errors)
    if result.files:
        logger.info(
            "cache pruning: deleted %d images, %d pixel files and %d abandoned partial writes (%d bytes)",
            result.images,
            result.pixels,
            result.partials,
            result.bytes,
        )
    return result


def enforce_pixel_cache_limit(root: Path, max_bytes: int) -> int:
    """Where the pixel files under ``root`` (every recipe's folder) add up to more than ``max_bytes``,
    delete those used longest ago until they fill ``EVICT_DOWN_TO`` of it; the number deleted.
    ``max_bytes`` 0 (or less): no bound. A file read or written since the walk saw it stays."""
    if max_bytes <= 0:
        return 0
    files: list[tuple[int, int, str]] = []  # (st_mtime_ns, size, path)
    total = 0
    for recipe in _subfolders(root):
        for entry in _files_below(recipe):
            if not entry.name.endswith(".rgb"):
                continue  # a .part is a write under way, or one prune_image_files deletes
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            files.append((stat.st_mtime_ns, stat.st_size, entry.path))
            total += stat.st_size
    if total <= max_bytes:
        return 0
    target = int(max_bytes * EVICT_DOWN_TO)
    files.sort()
    removed = 0
    freed = 0
    for mtime_ns, size, path in files:
        if total - freed <= target:
            break
        try:
            if os.stat(path).st_mtime_ns != mtime_ns:
                continue  # used (or written again) since the walk: no longer among the oldest
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            logger.warning("pixel cache: cannot evict %s: %s", path, exc)
            continue
        removed += 1
        freed += size
    logger.info("pixel cache: evicted %d files (%d bytes) to stay under %d bytes", removed, freed, max_bytes)
    return removed


def remove_image_files(image_root: Path, pixel_root: Path | None, image_id: str) -> int:
    """Delete the cached files of ``image_id``: at every width, and in every recipe's pixel folder
    (at every width it holds, those the image cache no longer holds included); the number deleted."""
    shard, targets = image_id[:2], []
    for folder in _width_folders(image_root):
        targets.append(os.path.join(folder, shard, f"{image_id}.jpg"))
    if pixel_root is not None:
        for recipe in _subfolders(pixel_root):
            for folder in _width_folders(recipe):
                targets.append(os.path.join(folder, shard, f"{image_id}.rgb"))
    removed = 0
    for target in targets:
        try:
            os.unlink(target)
        except FileNotFoundError:
            continue
        removed += 1
    return removed


def _prune_folder(folder: str, suffix: str, keep: set[str], cutoff: float, result: PruneResult) -> None:
    """One width folder: ``<2 chars>/<image id><suffix>`` files and ``.part`` files."""
    for shard in _scan(folder):
        if not shard.is_dir(follow_symlinks=False):
            continue
        for entry in _scan(shard.path):
            name = entry.name
            if name.endswith(".part"):
                kind = "partials"
            elif name.endswith(suffix) and name[: -len(suffix)] not in keep:
                kind = "pixels" if suffix == ".rgb" else "images"
            else:
                continue
            try:
                stat = entry.stat(follow_symlinks=False)
                if stat.st_mtime >= cutoff or not entry.is_file(follow_symlinks=False):
                    continue
                os.unlink(entry.path)
            except FileNotFoundError:
                continue  # removed meanwhile (a withdrawn record, another sweep)
            except OSError as exc:
                if not result.errors:
                    logger.warning("cache pruning: cannot delete %s: %s", entry.path, exc)
                result.errors += 1
                continue
            setattr(result, kind, getattr(result, kind) + 1)
            result.bytes += stat.st_size


def _width_folders(root: Path | str) -> Iterator[str]:
    for entry in _scan(root):
        if _WIDTH_FOLDER.match(entry.name) and entry.is_dir(follow_symlinks=False):
            yield entry.path


def _subfolders(root: Path | str) -> Iterator[str]:
    for entry in _scan(root):
        if entry.is_dir(follow_symlinks=False):
            yield entry.path


def _files_below(folder: str) -> Iterator[os.DirEntry[str]]:
    for entry in _scan(folder):
        if entry.is_dir(follow_symlinks=False):
            yield from _files_below(entry.path)
        elif entry.is_file(follow_symlinks=False):
            yield entry


def _scan(folder: Path | str) -> list[os.DirEntry[str]]:
    """The entries of ``folder``; none where it does not exist (never created, or deleted meanwhile)."""
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []
