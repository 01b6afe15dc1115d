"""The pixel cache keeps under EMBED_PIXEL_CACHE_MAX_GB: a sweep evicts the files used longest ago, over
every recipe's folder, down to 90 % of the bound; a read marks its file used, so what is still embedded
stays; and the pipeline embeds an evicted image all the same, decoding it again."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from catalog.models import Artwork
from embeddings.images.cache_pruning import enforce_pixel_cache_limit
from embeddings.images.iiif_cache import ImageCache
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from embeddings.pipeline import embed_artworks

DAY = 24 * 3600
PIXEL_FILE = 24 + 32 * 32 * 3  # header, then the micro model's crop


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _write(path: Path, size: int, age: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(size))
    _age(path, age)
    return path


def test_it_evicts_the_oldest_files_of_every_recipe_down_to_nine_tenths_of_the_bound(tmp_path: Path) -> None:
    root = tmp_path / "pixels"
    # Ten files of 1,000 bytes in two recipes' folders, used 1 to 10 days ago, alternately.
    files = [
        _write(root / ("224x224-a" if n % 2 else "336x336-b") / "w448" / f"{n:02}" / f"{n:02}img.rgb", 1000, n * DAY)
        for n in range(1, 11)
    ]
    writing = _write(root / "224x224-a" / "w448" / "99" / "tmp1234.part", 5000, 30 * DAY)

    assert enforce_pixel_cache_limit(root, 10_000) == 0  # at the bound: nothing to do
    assert enforce_pixel_cache_limit(root, 0) == 0  # 0: no bound
    assert all(path.exists() for path in files)

    assert enforce_pixel_cache_limit(root, 8_000) == 3  # 10,000 bytes down to at most 7,200
    assert [path.exists() for path in files] == [True] * 7 + [False] * 3  # the three used longest ago
    assert writing.exists()  # not a pixel file: a write under way, or prune_image_files' business


def _vectors(model: EmbeddingModel) -> dict[int, np.ndarray]:
    return {e.artwork_id: np.asarray(e.vector) for e in ArtworkEmbedding.objects.filter(model=model)}


@pytest.mark.django_db(transaction=True)
def test_a_read_marks_pixels_used_so_eviction_keeps_them_and_an_evicted_image_is_decoded_again(
    harvested: list[Artwork], embedding_model: EmbeddingModel, settings: Any
) -> None:
    settings.EMBED_PIXEL_CACHE = True
    ids = [a.pk for a in harvested]
    assert len(ids) >= 6
    first = embed_artworks(ids, embedding_model)
    assert sorted(first.embedded) == sorted(ids)
    decoded = _vectors(embedding_model)
    cache = ImageCache.from_settings()
    kept = sorted(cache.pixels_root.rglob("*.rgb"))
    assert len(kept) == len(ids) and all(path.stat().st_size == PIXEL_FILE for path in kept)
    for path in kept:
        _age(path, 2 * DAY)  # all last used two days ago

    # Half the artworks are embedded again: their pixels are read, and so marked used now.
    used = harvested[: len(harvested) // 2]
    ArtworkEmbedding.objects.all().delete()
    assert len(embed_artworks([a.pk for a in used], embedding_model).embedded) == len(used)
    recent = {path for path in kept if path.stat().st_mtime > time.time() - 60}
    assert len(recent) == len(used)

    bound = int(len(used) * PIXEL_FILE / 0.9) + 1  # room for those just used, not for the others
    assert enforce_pixel_cache_limit(cache.pixels_root, bound) == len(ids) - len(used)
    assert set(cache.pixels_root.rglob("*.rgb")) == recent

    ArtworkEmbedding.objects.all().delete()
    again = embed_artworks(ids, embedding_model)
    assert sorted(again.embedded) == sorted(ids) and not again.failed
    for pk, vector in _vectors(embedding_model).items():
        np.testing.assert_allclose(vector, decoded[pk], atol=1e-6)
    assert len(list(cache.pixels_root.rglob("*.rgb"))) == len(ids)  # the evicted pixels kept again
