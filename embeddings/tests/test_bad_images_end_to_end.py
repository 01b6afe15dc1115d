"""Bad images through a real Celery worker: each ends embedded correctly or failed with its reason, the
good images of the same batch land, and the worker process survives (no pool process lost)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from catalog.models import Artwork
from conftest import WorkerProcess, wait_until
from embeddings.indexing import enqueue_embedding
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel
from embeddings.pipeline import embed_artworks
from museum_site.tests import hostile_images as images

pytestmark = pytest.mark.django_db(transaction=True)

EMBEDDED = "embedded"
EXIF_JPEG, UPRIGHT = images.exif_rotated_jpeg()
CASES: dict[str, tuple[bytes | None, str]] = {
    "missing": (None, "HTTP 404"),
    "zero-bytes": (b"", "empty (0 bytes)"),
    "text-as-jpeg": (b"<html><body>Not Found</body></html>", "not an image"),
    "truncated-jpeg": (images.truncated_jpeg(), "cannot be decoded"),
    "bomb-30000x30000": (images.decompression_bomb_png(), "900000000 pixels"),
    "cmyk-jpeg": (images.cmyk_jpeg(), EMBEDDED),
    "png-16-bit": (images.sixteen_bit_png(), EMBEDDED),
    "palette-transparency": (images.palette_with_transparency_png(), EMBEDDED),
    "animated-gif": (images.animated_gif(), EMBEDDED),
    "exif-rotated": (EXIF_JPEG, EMBEDDED),
    "plain-jpeg": (images.encode(images.scene(), "JPEG"), EMBEDDED),
}


def _pool(worker: WorkerProcess) -> set[int]:
    assert worker.process is not None
    children = Path(f"/proc/{worker.process.pid}/task/{worker.process.pid}/children")
    return {int(pid) for pid in children.read_text().split()}


def _artwork(aic_id: int, image_id: str) -> Artwork:
    return Artwork.objects.create(aic_id=aic_id, title=image_id, image_id=image_id, content_hash=image_id)


def _vector(artwork: Artwork, model: EmbeddingModel) -> np.ndarray:
    return np.asarray(ArtworkEmbedding.objects.get(artwork=artwork, model=model).vector)


def test_each_bad_image_ends_failed_with_its_reason_or_embedded_and_the_worker_survives(
    celery_worker: WorkerProcess, sample_aic: Any, embedding_model: EmbeddingModel, settings: Any, tmp_path: Path
) -> None:
    pool_before = _pool(celery_worker)
    artworks: dict[str, Artwork] = {}
    for number, (name, (data, _)) in enumerate(CASES.items()):
        image_id = f"hostile-{name}"
        if data is not None:
            sample_aic.set_image_bytes(image_id, data)
        artworks[name] = _artwork(980_000_000 + number, image_id)
    enqueue_embedding([artwork.pk for artwork in artworks.values()], embedding_model)

    def settled() -> bool:
        done = ArtworkEmbedding.objects.filter(model=embedding_model).count()
        return done + EmbeddingFailure.objects.filter(model=embedding_model).count() == len(CASES)

    wait_until(settled, timeout=120)
    for name, (_, expected) in CASES.items():
        failure = EmbeddingFailure.objects.filter(artwork=artworks[name], model=embedding_model).first()
        if expected == EMBEDDED:
            assert failure is None, f"{name}: {failure.reason if failure else ''}"
            assert np.linalg.norm(_vector(artworks[name], embedding_model)) == pytest.approx(1.0, abs=1e-3)
        else:
            assert failure is not None and expected in failure.reason, f"{name}: {failure and failure.reason}"
            assert not ArtworkEmbedding.objects.filter(artwork=artworks[name]).exists()

    # The worker survived every image in its own process, and takes the next task.
    assert celery_worker.process is not None and celery_worker.process.poll() is None
    assert _pool(celery_worker) == pool_before
    sample_aic.set_image_bytes("hostile-after", images.encode(images.scene((40, 40)), "JPEG"))
    after = _artwork(980_000_100, "hostile-after")
    enqueue_embedding([after.pk], embedding_model)
    wait_until(lambda: ArtworkEmbedding.objects.filter(artwork=after).exists(), timeout=60)

    # EXIF rotation was applied: the worker's vector is the upright picture's, not the stored one's.
    sample_aic.set_image_bytes("hostile-upright", images.encode(UPRIGHT, "JPEG", quality=95))
    sideways = UPRIGHT.transpose(Image.Transpose.ROTATE_90)
    sample_aic.set_image_bytes("hostile-sideways", images.encode(sideways, "JPEG", quality=95))
    upright, stored = _artwork(980_000_101, "hostile-upright"), _artwork(980_000_102, "hostile-sideways")
    settings.AIC_IIIF_URL = sample_aic.iiif_url
    settings.IMAGE_CACHE_DIR = tmp_path / "images"
    assert len(embed_artworks([upright.pk, stored.pk], embedding_model).embedded) == 2
    rotated = _vector(artworks["exif-rotated"], embedding_model)
    assert float(rotated @ _vector(upright, embedding_model)) > 0.99
    assert float(rotated @ _vector(upright, embedding_model)) > float(rotated @ _vector(stored, embedding_model))
