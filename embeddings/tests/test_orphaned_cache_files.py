"""Files of images no record uses any more leave the caches: a sweep given the ids still in use deletes
the others' JPEGs at every width and their pixels in every recipe's folder, and the temporary files of
crashed writes, but never a file younger than the age it is given; and a withdrawn record's image is
removed at once (``ImageCache.remove``), to be downloaded again should it come back."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from catalog.models import Artwork
from embeddings.images.cache_pruning import prune_image_files
from embeddings.images.iiif_cache import ImageCache
from embeddings.models import EmbeddingModel
from embeddings.pipeline import embed_artworks

HOUR = 3600


def _file(path: Path, age: float, size: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(size))
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def _image_files(images: Path, pixels: Path, image_id: str, age: float) -> list[Path]:
    """``image_id`` cached at two widths, with pixels of two recipes (one of them at a third width)."""
    shard = image_id[:2]
    return [
        _file(images / "w448" / shard / f"{image_id}.jpg", age),
        _file(images / "w843" / shard / f"{image_id}.jpg", age),
        _file(pixels / "224x224-aaaa" / "w448" / shard / f"{image_id}.rgb", age),
        _file(pixels / "336x336-bbbb" / "w843" / shard / f"{image_id}.rgb", age),
        _file(pixels / "336x336-bbbb" / "w200" / shard / f"{image_id}.rgb", age),
    ]


def test_it_deletes_old_files_of_images_not_in_use_and_old_partial_writes_only(tmp_path: Path) -> None:
    images = tmp_path / "image_cache"
    pixels = images / "pixels"  # the default place: inside the image cache, beside the width folders
    in_use = _image_files(images, pixels, "aa11", age=48 * HOUR)
    orphaned = _image_files(images, pixels, "bb22", age=48 * HOUR)
    just_downloaded = _image_files(images, pixels, "cc33", age=60)  # a record committed a moment ago
    crashed = [
        _file(images / "w448" / "aa" / "tmpx1y2.part", 48 * HOUR),
        _file(pixels / "r" / "w448" / "bb" / "t.part", 48 * HOUR),
    ]
    writing = [_file(images / "w448" / "aa" / "tmpz9.part", 60), _file(pixels / "r" / "w448" / "bb" / "u.part", 60)]
    strangers = [_file(images / "README", 48 * HOUR), _file(images / "w448" / "aa" / "notes.txt", 48 * HOUR)]

    result = prune_image_files(images, pixels, keep={"aa11"}, older_than_seconds=HOUR)

    assert not any(path.exists() for path in orphaned + crashed)
    assert all(path.exists() for path in in_use + just_downloaded + writing + strangers)
    assert (result.images, result.pixels, result.partials, result.errors) == (2, 3, 2, 0)
    assert result.files == 7 and result.bytes == 700

    # Everything left is in use, young or not ours: a second sweep deletes nothing.
    assert prune_image_files(images, pixels, keep={"aa11"}, older_than_seconds=HOUR).files == 0


def test_it_walks_a_pixel_cache_kept_elsewhere_and_copes_with_missing_folders(tmp_path: Path) -> None:
    images, pixels = tmp_path / "images", tmp_path / "elsewhere" / "pixels"
    orphaned = _image_files(images, pixels, "dd44", age=48 * HOUR)
    assert prune_image_files(images, pixels, keep=set(), older_than_seconds=HOUR).files == len(orphaned)
    assert not any(path.exists() for path in orphaned)

    assert prune_image_files(tmp_path / "never", tmp_path / "made", keep=set(), older_than_seconds=0).files == 0
    assert prune_image_files(tmp_path / "never", None, keep=set(), older_than_seconds=0).files == 0


def test_remove_deletes_an_image_at_every_width_and_its_pixels_in_every_recipe(tmp_path: Path) -> None:
    images = tmp_path / "image_cache"
    cache = ImageCache(root=images, iiif_base="http://127.0.0.1:9/iiif/2", width=448, limiter=None)
    withdrawn = _image_files(images, cache.pixels_root, "ee55", age=0)
    other = _image_files(images, cache.pixels_root, "ee66", age=0)

    assert cache.remove("ee55") == len(withdrawn)
    assert not any(path.exists() for path in withdrawn)
    assert all(path.exists() for path in other)
    assert cache.remove("ee55") == 0
    assert cache.remove("../etc/passwd") == 0  # not an image id: nothing was ever cached under it


@pytest.mark.django_db(transaction=True)
def test_a_removed_image_is_downloaded_and_embedded_again(
    harvested: list[Artwork], embedding_model: EmbeddingModel, settings: Any, aic: Any
) -> None:
    settings.EMBED_PIXEL_CACHE = True
    artwork = harvested[0]
    assert embed_artworks([artwork.pk], embedding_model).embedded == [artwork.pk]
    cache = ImageCache.from_settings()
    assert cache.remove(artwork.image_id) == 2  # its JPEG and its pixels
    downloads = aic.count(f"/iiif/2/{artwork.image_id}/")

    assert embed_artworks([artwork.pk], embedding_model).embedded == [artwork.pk]
    assert aic.count(f"/iiif/2/{artwork.image_id}/") == downloads + 1
    assert cache.path_for(artwork.image_id).exists()
