"""Two hosts, one store: an image host A downloaded from IIIF is served to host B from the store, with
no request to IIIF (which the whole fleet shares at its rate limit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLE_DIR
from embeddings.images.iiif_cache import ImageCache
from embeddings.images.types import ImageError

IMAGE_ID = sorted(SAMPLE_DIR.glob("images/*.jpg"))[0].stem
IIIF = "/iiif/2/"


def _host_cache(settings: Any, folder: Path) -> ImageCache:
    """The image cache a worker on a host with this IMAGE_CACHE_DIR builds from the settings."""
    settings.IMAGE_CACHE_DIR = folder
    settings.EMBED_PIXEL_CACHE_DIR = folder / "pixels"
    settings.IIIF_REQUESTS_PER_SECOND = 100.0
    return ImageCache.from_settings()


def test_an_image_downloaded_on_one_host_reaches_another_from_the_store(
    aic: Any, s3_store: Any, settings: Any, tmp_path: Path
) -> None:
    host_a = _host_cache(settings, tmp_path / "host-a")
    image_a = host_a.open(IMAGE_ID)
    assert aic.count(IIIF) == 1
    assert s3_store.exists(host_a.key_for(IMAGE_ID))

    host_b = _host_cache(settings, tmp_path / "host-b")
    image_b = host_b.open(IMAGE_ID)

    assert aic.count(IIIF) == 1  # host B asked IIIF nothing
    assert (host_b.downloads, host_b.from_store) == (0, 1)
    assert host_b.path_for(IMAGE_ID).read_bytes() == host_a.path_for(IMAGE_ID).read_bytes()
    assert image_b.size == image_a.size and image_b.tobytes() == image_a.tobytes()


def test_a_withdrawn_image_leaves_the_store_too(aic: Any, s3_store: Any, settings: Any, tmp_path: Path) -> None:
    host_a = _host_cache(settings, tmp_path / "host-a")
    host_a.fetch(IMAGE_ID)

    host_a.remove(IMAGE_ID)

    assert s3_store.list_keys(f"images/{IMAGE_ID}/") == []
    assert not host_a.path_for(IMAGE_ID).exists()


def test_with_a_folder_store_one_host_keeps_one_copy_of_an_image(
    aic: Any, folder_store: Any, settings: Any, tmp_path: Path
) -> None:
    host = _host_cache(settings, tmp_path / "host")

    cached = host.fetch(IMAGE_ID)

    stored = folder_store.path_of(host.key_for(IMAGE_ID))
    assert stored.samefile(cached)  # one file on disk, two names
    assert cached.stat().st_nlink == 2


def test_an_undecodable_stored_image_is_dropped_and_fetched_again_from_iiif(
    aic: Any, s3_store: Any, settings: Any, tmp_path: Path
) -> None:
    host = _host_cache(settings, tmp_path / "host")
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(b"not an image at all")
    s3_store.upload(damaged, host.key_for(IMAGE_ID))

    with pytest.raises(ImageError):
        host.open(IMAGE_ID)

    assert not s3_store.exists(host.key_for(IMAGE_ID))
    assert not host.path_for(IMAGE_ID).exists()
    assert aic.count(IIIF) == 0
    host.open(IMAGE_ID)  # the next try goes to IIIF, and stores a good copy
    assert aic.count(IIIF) == 1
    assert s3_store.exists(host.key_for(IMAGE_ID))
