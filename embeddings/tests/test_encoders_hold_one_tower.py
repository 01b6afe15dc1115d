"""A web process holds only the text tower and an embed worker only the image tower, with the vectors
the whole model gives."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from conftest import SAMPLE_DIR, TEST_MODEL_ARCH
from embeddings.encoders.clip import ImageEncoder, TextEncoder, create_clip
from embeddings.encoders.types import Spec

QUERIES = ["a stormy sea at night", "portrait of a woman in a blue dress with a pearl earring, oil on canvas", "x"]


@pytest.fixture(scope="module")
def whole(clip_checkpoint: str) -> tuple[object, object]:
    return create_clip(Spec(TEST_MODEL_ARCH, clip_checkpoint))


def test_it_loads_the_text_tower_alone_and_gives_the_whole_models_text_vectors(
    clip_checkpoint: str, whole: tuple[object, object]
) -> None:
    encoder = TextEncoder(Spec(TEST_MODEL_ARCH, clip_checkpoint), torch.device("cpu"))
    assert encoder.model.visual is None
    model, _ = whole
    with torch.inference_mode():
        expected = model.encode_text(open_clip.get_tokenizer(TEST_MODEL_ARCH)(QUERIES), normalize=True).numpy()  # type: ignore[attr-defined]
    # Short queries are encoded without their padding: the vectors do not change.
    np.testing.assert_allclose(encoder.encode(QUERIES), expected, atol=1e-5)
    np.testing.assert_allclose(encoder.encode(QUERIES[:1])[0], expected[0], atol=1e-5)


def test_it_loads_the_image_tower_alone_and_gives_the_whole_models_image_vectors(
    clip_checkpoint: str, whole: tuple[object, object]
) -> None:
    encoder = ImageEncoder(Spec(TEST_MODEL_ARCH, clip_checkpoint), torch.device("cpu"))
    assert encoder.model.transformer is None and encoder.model.token_embedding is None
    model, preprocess = whole
    images = [Image.open(path).convert("RGB") for path in sorted((SAMPLE_DIR / "images").glob("*.jpg"))[:6]]
    with torch.inference_mode():
        batch = torch.stack([preprocess(image) for image in images])  # type: ignore[operator]
        expected = model.encode_image(batch, normalize=True).numpy()  # type: ignore[attr-defined]
    # Resized and cropped in threads as uint8, normalised by batch: the model's own preprocessing.
    np.testing.assert_allclose(
        encoder.encode_prepared([encoder.prepare(image) for image in images]), expected, atol=1e-5
    )
    assert not any(name.startswith(("transformer.", "token_embedding")) for name in encoder.model.state_dict())
