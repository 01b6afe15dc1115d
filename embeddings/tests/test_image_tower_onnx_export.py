"""A registered model's image tower is exported to ONNX, beside its text tower, and gives open_clip's
vectors for real pictures prepared as open_clip prepares them, without torchvision."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from django.conf import settings
from django.core.management import call_command
from open_clip.transform import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from PIL import Image

from conftest import SAMPLE_DIR, TEST_MODEL_ARCH
from embeddings.encoders import per_process as encoders
from embeddings.encoders.clip import create_clip
from embeddings.encoders.image_onnx import IMAGE_DESCRIPTION_FILE, OnnxImageEncoder, find_image_export
from embeddings.encoders.onnx_export import TOLERANCE
from embeddings.encoders.text_onnx import find_export
from embeddings.encoders.types import Spec
from embeddings.images.decoding import decode_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_encoders() -> Any:
    """No encoder held by this process yet, before and after the test."""
    encoders._encoders.clear()
    yield
    encoders._encoders.clear()


def _sample_pictures(draft_size: tuple[int, int] | None) -> list[Image.Image]:
    """Twelve sample artworks as a web process decodes an upload: small, upright, RGB."""
    paths = sorted((SAMPLE_DIR / "images").glob("*.jpg"))[:12]
    return [decode_image(path.read_bytes(), settings.IMAGE_MAX_PIXELS, draft_size, reduce=True) for path in paths]


def _open_clip_vectors(checkpoint: str, pictures: list[Image.Image]) -> np.ndarray:
    """What open_clip itself gives: its whole model and its own preprocess, in PyTorch."""
    model, preprocess = create_clip(Spec(TEST_MODEL_ARCH, checkpoint))
    with torch.inference_mode():
        batch = torch.stack([preprocess(picture) for picture in pictures])
        return model.encode_image(batch, normalize=True).numpy()


def test_the_image_export_gives_open_clips_vectors_for_sample_pictures(
    embedding_model: Any, clip_checkpoint: str, fresh_encoders: None
) -> None:
    export = find_image_export(embedding_model)
    text_export = find_export(embedding_model)
    assert export is not None and text_export is not None
    assert export.folder == text_export.folder  # both towers of these weights in one folder
    assert export.graph.is_file() and export.dimension == embedding_model.dimension
    onnx = OnnxImageEncoder(export)
    pictures = _sample_pictures(onnx.draft_size)
    assert len({picture.size for picture in pictures}) > 3  # several shapes: the resize and crop vary
    expected = _open_clip_vectors(clip_checkpoint, pictures)
    one_by_one = np.stack([onnx.encode_images([picture])[0] for picture in pictures])
    np.testing.assert_allclose(one_by_one, expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(onnx.encode_images(pictures), expected, rtol=0, atol=TOLERANCE)
    # Different pictures, different vectors: the comparison is not between two constants.
    assert float(np.abs(expected[0] - expected[1]).max()) > 100 * TOLERANCE


def test_the_description_records_open_clips_preprocess(embedding_model: Any) -> None:
    export = find_image_export(embedding_model)
    assert export is not None
    description = json.loads((export.folder / IMAGE_DESCRIPTION_FILE).read_text())
    assert description["image_size"] == [32, 32]
    assert description["resize_mode"] == "shortest" and description["interpolation"] == "bicubic"
    assert description["resize_crop"] == {"size": [32], "interpolation": Image.Resampling.BICUBIC, "crop": [32, 32]}
    assert description["mean"] == pytest.approx(OPENAI_DATASET_MEAN)
    assert description["std"] == pytest.approx(OPENAI_DATASET_STD)


def test_web_processes_encode_pictures_with_the_export_unless_told_to_use_pytorch(
    embedding_model: Any, fresh_encoders: None, settings: Any
) -> None:
    picture = _sample_pictures((32, 32))[0]
    onnx = encoders.get_image_query_encoder(embedding_model)
    assert onnx.runtime == "onnxruntime"
    settings.SEARCH_ENCODER_RUNTIME = "torch"
    pytorch = encoders.get_image_query_encoder(embedding_model)
    assert pytorch.runtime == "torch"
    assert pytorch is encoders.get_image_encoder(embedding_model)  # the embedding workers' own encoder
    np.testing.assert_allclose(onnx.encode_images([picture]), pytorch.encode_images([picture]), rtol=0, atol=TOLERANCE)


def test_exporting_one_tower_again_leaves_the_other_in_place(embedding_model: Any) -> None:
    image_export = find_image_export(embedding_model)
    text_export = find_export(embedding_model)
    assert image_export is not None and text_export is not None
    graph = image_export.graph.stat()
    (text_export.folder / "tower.json").unlink()
    assert find_export(embedding_model) is None
    call_command("export_onnx_towers")
    assert find_export(embedding_model) == text_export
    assert find_image_export(embedding_model) == image_export
    assert image_export.graph.stat().st_ino == graph.st_ino  # kept, not written again
