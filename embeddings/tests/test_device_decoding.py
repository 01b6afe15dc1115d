"""Decoding on the device (EMBED_DECODE_ON_DEVICE): torch's decoder and resize give PIL's crops within a
fraction of a level, vectors within a hair of the PIL path's, and every image it does not take, or
cannot decode, goes through PIL (which embeds it or says why not). Run here on the CPU: the same code
runs on CUDA with nvjpeg."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from catalog.models import Artwork
from embeddings.images.decoding import ResizeCrop
from embeddings.images.device_decoding import EncodedJpeg, decode_on_device, device_jpeg, resize_crop
from embeddings.images.iiif_cache import ImageCache
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel
from embeddings.pipeline import embed_artworks

SAMPLE_IMAGES = Path(__file__).resolve().parents[2] / "sample_data" / "aic" / "images"
MAX_PIXELS = 40_000_000
BICUBIC, BILINEAR = int(Image.Resampling.BICUBIC), int(Image.Resampling.BILINEAR)


def _jpeg(image: Image.Image, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "recipe",
    [
        ResizeCrop(size=(224,), interpolation=BICUBIC, crop=(224, 224)),  # ViT-B-32's
        ResizeCrop(size=(96, 160), interpolation=BILINEAR, crop=(96, 160)),  # a squashing resize
        ResizeCrop(size=(60,), interpolation=BICUBIC, crop=(80, 72)),  # a crop larger than the image: padding
    ],
)
def test_its_crops_are_pils_within_a_fraction_of_a_level(recipe: ResizeCrop) -> None:
    files = sorted(SAMPLE_IMAGES.glob("*.jpg"))[:24]
    jpegs = [device_jpeg(path.read_bytes(), MAX_PIXELS) for path in files]
    assert all(isinstance(jpeg, EncodedJpeg) for jpeg in jpegs)
    decoded = decode_on_device([jpeg for jpeg in jpegs if jpeg is not None], torch.device("cpu"))
    differences = []
    for path, image in zip(files, decoded, strict=True):
        assert image is not None
        reference = np.asarray(recipe.apply(Image.open(path).convert("RGB")), dtype=np.int16)
        mine = resize_crop(image, recipe).permute(1, 2, 0).numpy()
        assert mine.shape == reference.shape
        assert np.array_equal(mine, np.round(mine)) and mine.min() >= 0 and mine.max() <= 255
        differences.append(np.abs(mine.astype(np.int16) - reference))
    assert np.mean([difference.mean() for difference in differences]) < 0.3
    assert max(difference.mean() for difference in differences) < 0.5
    assert max(int(difference.max()) for difference in differences) <= 32


def test_it_takes_only_plain_upright_jpegs() -> None:
    colour = Image.new("RGB", (40, 30), "teal")
    assert device_jpeg(_jpeg(colour), MAX_PIXELS) == EncodedJpeg(_jpeg(colour), 40, 30)
    assert device_jpeg(_jpeg(colour.convert("L")), MAX_PIXELS) is not None
    rotated = colour.getexif()
    rotated[0x0112] = 6
    png = io.BytesIO()
    colour.save(png, "PNG")
    for refused in (
        _jpeg(colour, exif=rotated),  # PIL turns it upright
        _jpeg(Image.new("CMYK", (8, 8))),
        png.getvalue(),
        b"<html>not found</html>",
        _jpeg(Image.new("RGB", (800, 600))),  # over the pixel limit below
    ):
        assert device_jpeg(refused, 100_000) is None


def test_a_batch_with_an_undecodable_file_loses_only_that_file() -> None:
    good = _jpeg(Image.new("RGB", (64, 48), "orange"))
    noise = _jpeg(Image.effect_noise((64, 48), 60).convert("RGB"))
    jpegs = [device_jpeg(data, MAX_PIXELS) for data in (good, noise[: len(noise) // 2], good)]
    decoded = decode_on_device([jpeg for jpeg in jpegs if jpeg is not None], torch.device("cpu"))
    assert len(decoded) == 3  # the truncated file's header still reads as a JPEG
    assert [image is None for image in decoded] == [False, True, False]


@pytest.mark.django_db(transaction=True)
def test_the_pipeline_embeds_on_the_device_and_hands_pil_what_it_cannot_decode(
    harvested: list[Artwork], embedding_model: EmbeddingModel, settings: Any
) -> None:
    ids = [artwork.pk for artwork in harvested]
    settings.EMBED_DECODE_PROCESSES = 0
    settings.EMBED_DECODE_ON_DEVICE = False
    embed_artworks(ids, embedding_model, batch_size=5)  # also downloads every image into the cache
    on_host = {e.artwork_id: np.asarray(e.vector) for e in ArtworkEmbedding.objects.filter(model=embedding_model)}
    ArtworkEmbedding.objects.all().delete()

    cache = ImageCache.from_settings()
    damaged = harvested[0]
    data = cache.path_for(damaged.image_id).read_bytes()
    cache.path_for(damaged.image_id).write_bytes(data[: len(data) // 2])  # its header still reads as a JPEG
    assert device_jpeg(cache.path_for(damaged.image_id).read_bytes(), MAX_PIXELS) is not None

    settings.EMBED_DECODE_ON_DEVICE = True
    result = embed_artworks(ids, embedding_model, batch_size=5)
    assert list(result.failed) == [damaged.pk] and "truncated" in result.failed[damaged.pk]
    assert EmbeddingFailure.objects.get(artwork=damaged).reason == result.failed[damaged.pk]
    assert not cache.path_for(damaged.image_id).exists()  # an undecodable file leaves the cache
    on_device = {e.artwork_id: np.asarray(e.vector) for e in ArtworkEmbedding.objects.filter(model=embedding_model)}
    assert sorted(on_device) == sorted(set(ids) - {damaged.pk})
    # The micro model's small crops make a fraction of a level count more than at 224 px; a wrong
    # channel order, scale or crop would give cosines far below this.
    cosines = [float(on_device[pk] @ on_host[pk]) for pk in on_device]
    assert min(cosines) > 0.995
    assert any(not np.array_equal(on_device[pk], on_host[pk]) for pk in on_device)  # torch resized these
