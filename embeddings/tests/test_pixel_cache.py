"""The pixel cache (EMBED_PIXEL_CACHE): an image embedded once is read back resized and cropped the next
time, by threads and decoding processes alike; its vectors are those of decoding afresh; a JPEG fetched
again is never given the old pixels; and a cache that cannot be written costs nothing but a warning."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import PIL
import pytest

from catalog.models import Artwork
from embeddings.encoders.per_process import get_image_encoder
from embeddings.feeding.choice import pixel_cache
from embeddings.images import pixel_cache as pixel_cache_module
from embeddings.images.decoding import ResizeCrop
from embeddings.images.iiif_cache import ImageCache
from embeddings.images.pixel_cache import recipe_key
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel
from embeddings.pipeline import embed_artworks

pytestmark = pytest.mark.django_db(transaction=True)


def _vectors(model: EmbeddingModel) -> dict[int, np.ndarray]:
    return {e.artwork_id: np.asarray(e.vector) for e in ArtworkEmbedding.objects.filter(model=model)}


def _kept_files(cache: ImageCache) -> list[Path]:
    return sorted((cache.root / "pixels").rglob("*.rgb"))


def _embed_again(ids: list[int], model: EmbeddingModel) -> dict[int, np.ndarray]:
    ArtworkEmbedding.objects.all().delete()
    result = embed_artworks(ids, model)
    assert sorted(result.embedded) == sorted(ids) and not result.failed
    return _vectors(model)


def _replace_file(path: Path, data: bytes) -> None:
    """As the image cache writes: a new file renamed over the old one."""
    part = path.with_suffix(".part")
    part.write_bytes(data)
    os.replace(part, path)


@pytest.mark.parametrize("decode_processes", [0, 2], ids=["threads", "processes"])
def test_a_second_embedding_reads_the_kept_pixels_and_gets_the_same_vectors(
    harvested: list[Artwork], embedding_model: EmbeddingModel, settings: Any, decode_processes: int
) -> None:
    ids = [a.pk for a in harvested]
    settings.EMBED_DECODE_PROCESSES = decode_processes
    settings.EMBED_PIXEL_CACHE = False
    decoded = _embed_again(ids, embedding_model)  # also fills the image cache
    cache = ImageCache.from_settings()
    assert not _kept_files(cache)

    settings.EMBED_PIXEL_CACHE = True
    keeping = _embed_again(ids, embedding_model)
    kept = _kept_files(cache)
    assert len(kept) == len(ids)
    assert all(path.stat().st_size == 24 + 32 * 32 * 3 for path in kept)  # header, then the micro model's crop

    # Tamper with one image's kept pixels (its header intact): the next embedding must show it read them.
    target = pixel_cache(get_image_encoder(embedding_model), cache)
    assert target is not None
    tampered = harvested[0]
    tampered_file = target.path_for(cache.path_for(tampered.image_id))
    assert tampered_file is not None and tampered_file in kept
    tampered_file.write_bytes(tampered_file.read_bytes()[:24] + bytes(32 * 32 * 3))
    reading = _embed_again(ids, embedding_model)

    for pk in ids:
        np.testing.assert_allclose(keeping[pk], decoded[pk], atol=1e-6)
        if pk != tampered.pk:
            np.testing.assert_allclose(reading[pk], decoded[pk], atol=1e-6)
    black = get_image_encoder(embedding_model).encode_prepared([np.zeros((32, 32, 3), dtype=np.uint8)])[0]
    np.testing.assert_allclose(reading[tampered.pk], black, atol=1e-6)
    assert not np.allclose(reading[tampered.pk], decoded[tampered.pk], atol=1e-3)


@pytest.mark.parametrize("decode_processes", [0, 2], ids=["threads", "processes"])
def test_an_image_fetched_again_is_never_given_the_old_pixels(
    harvested: list[Artwork], embedding_model: EmbeddingModel, settings: Any, decode_processes: int
) -> None:
    ids = [a.pk for a in harvested]
    settings.EMBED_DECODE_PROCESSES = decode_processes
    settings.EMBED_PIXEL_CACHE = True
    first = _embed_again(ids, embedding_model)
    cache = ImageCache.from_settings()
    changed, other = harvested[0], harvested[1]
    _replace_file(cache.path_for(changed.image_id), cache.path_for(other.image_id).read_bytes())

    second = _embed_again(ids, embedding_model)
    np.testing.assert_allclose(second[changed.pk], first[other.pk], atol=1e-6)
    assert not np.allclose(second[changed.pk], first[changed.pk], atol=1e-3)
    third = _embed_again(ids, embedding_model)  # the new file's pixels were kept in place of the old
    np.testing.assert_allclose(third[changed.pk], first[other.pk], atol=1e-6)


def test_a_damaged_image_still_fails_with_its_reason_and_keeps_no_pixels(
    harvested: list[Artwork], embedding_model: EmbeddingModel, settings: Any
) -> None:
    settings.EMBED_PIXEL_CACHE = True
    cache = ImageCache.from_settings()
    ids = [a.pk for a in harvested]
    embed_artworks(ids, embedding_model)
    damaged = harvested[0]
    target = pixel_cache(get_image_encoder(embedding_model), cache)
    assert target is not None
    kept_file = target.path_for(cache.path_for(damaged.image_id))
    assert kept_file is not None
    kept_file.unlink()
    _replace_file(cache.path_for(damaged.image_id), b"<html>not a picture</html>")

    result = embed_artworks(ids, embedding_model)
    assert list(result.failed) == [damaged.pk]
    assert "not an image" in EmbeddingFailure.objects.get(artwork=damaged, model=embedding_model).reason
    assert not kept_file.exists()


def test_a_pixel_cache_that_cannot_be_written_is_logged_once_a_minute_and_embedding_goes_on(
    harvested: list[Artwork],
    embedding_model: EmbeddingModel,
    settings: Any,
    tmp_path: Path,
    caplog: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pixel_cache_module, "_warned_at", None)  # no warning earlier in this process
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the pixel cache's folder should be")
    settings.EMBED_PIXEL_CACHE = True
    settings.EMBED_PIXEL_CACHE_DIR = blocked
    ids = [a.pk for a in harvested]
    with caplog.at_level(logging.WARNING, logger="embeddings.images.pixel_cache"):
        result = embed_artworks(ids, embedding_model)
    assert sorted(result.embedded) == sorted(ids) and not result.failed
    warnings = [record.getMessage() for record in caplog.records if record.name == "embeddings.images.pixel_cache"]
    assert len(warnings) == 1  # not one per image: a full disk would flood the log
    assert "pixel cache: cannot" in warnings[0] and "embedded without it" in warnings[0]


def test_auto_keeps_pixels_only_for_a_gpu_worker(
    harvested: list[Artwork], embedding_model: EmbeddingModel, settings: Any
) -> None:
    settings.EMBED_PIXEL_CACHE = None  # "auto"
    embed_artworks([a.pk for a in harvested], embedding_model)
    assert get_image_encoder(embedding_model).device.type == "cpu"
    assert not _kept_files(ImageCache.from_settings())


def test_another_recipe_draft_or_pillow_version_keeps_its_pixels_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    bicubic = ResizeCrop(size=(224,), interpolation=3, crop=(224, 224))
    keys = {
        recipe_key(bicubic, (224, 224)),
        recipe_key(ResizeCrop(size=(224,), interpolation=2, crop=(224, 224)), (224, 224)),  # bilinear
        recipe_key(ResizeCrop(size=(336,), interpolation=3, crop=(336, 336)), (336, 336)),
        recipe_key(bicubic, None),  # no JPEG draft: other pixels
    }
    assert len(keys) == 4
    assert recipe_key(bicubic, (224, 224)).startswith("224x224-")  # readable at a glance
    monkeypatch.setattr(PIL, "__version__", "0.0.0")  # another Pillow may resize otherwise
    assert recipe_key(bicubic, (224, 224)) not in keys
