"""A registered model's text tower is exported to ONNX and gives open_clip's vectors; the tokenizer
behind it is open_clip's, token for token."""

from __future__ import annotations

import json
import logging
import shutil
from typing import Any

import numpy as np
import open_clip
import pytest
import torch
from django.core.management import call_command

from conftest import SAMPLE_DIR, TEST_MODEL_ARCH
from embeddings.encoders import per_process as encoders
from embeddings.encoders.clip import TextEncoder
from embeddings.encoders.text_onnx import ClipTokenizer, OnnxTextEncoder, find_export
from embeddings.encoders.types import Spec

pytestmark = pytest.mark.django_db

QUERIES = [
    "a stormy sea at night",
    "portrait of a woman in a blue dress with a pearl earring, oil on canvas",
    "x",
    "",
    "Nighthawks &amp;amp; the   CITY\n",
    "café terrace — 1888 (Arles) 北斎 🌊",
    "the haystacks at giverny " * 20,
]


@pytest.fixture
def fresh_encoders() -> Any:
    """No encoder held by this process yet, before and after the test."""
    encoders._encoders.clear()
    yield
    encoders._encoders.clear()


def _sample_texts() -> list[str]:
    texts: list[str] = []
    for path in sorted((SAMPLE_DIR / "records").glob("*.json")):
        record = json.loads(path.read_text())
        record = record.get("data", record)
        texts.extend(str(record.get(field) or "") for field in ("title", "artist_display", "description"))
    return [text for text in texts if text]


def test_the_tokenizer_gives_open_clips_tokens_for_every_text_of_the_sample_collection(embedding_model: Any) -> None:
    export = find_export(embedding_model)
    assert export is not None
    ours = ClipTokenizer(export.vocabulary, 77)
    theirs = open_clip.get_tokenizer("ViT-B-32")
    texts = [*QUERIES, *_sample_texts()]
    assert len(texts) > 600
    np.testing.assert_array_equal(ours(texts), theirs(texts).numpy())


def test_registering_a_model_exports_its_text_tower_with_the_vectors_open_clip_gives(
    embedding_model: Any, clip_checkpoint: str, fresh_encoders: None
) -> None:
    export = find_export(embedding_model)
    assert export is not None and export.graph.is_file() and export.dimension == embedding_model.dimension
    expected = TextEncoder(Spec(TEST_MODEL_ARCH, clip_checkpoint), torch.device("cpu")).encode(QUERIES)
    onnx = OnnxTextEncoder(export)
    np.testing.assert_allclose(onnx.encode(QUERIES), expected, atol=1e-5)
    np.testing.assert_allclose(onnx.encode(QUERIES[:1])[0], expected[0], atol=1e-5)
    encoder = encoders.get_text_encoder(embedding_model)
    assert encoder.runtime == "onnxruntime"
    assert encoders.loaded_encoders()[("text", TEST_MODEL_ARCH, clip_checkpoint)] is encoder


def test_without_an_export_queries_are_encoded_with_pytorch_and_the_log_says_how_to_export(
    embedding_model: Any, fresh_encoders: None, caplog: pytest.LogCaptureFixture
) -> None:
    export = find_export(embedding_model)
    assert export is not None
    expected = OnnxTextEncoder(export).encode(QUERIES[:2])
    shutil.rmtree(export.folder)
    with caplog.at_level(logging.WARNING, logger="embeddings.encoders.per_process"):
        encoder = encoders.get_text_encoder(embedding_model)
    assert encoder.runtime == "torch"
    assert "manage.py export_onnx_towers" in caplog.text
    np.testing.assert_allclose(encoder.encode(QUERIES[:2]), expected, atol=1e-5)

    call_command("export_onnx_towers")  # the active model
    assert find_export(embedding_model) is not None
    encoders._encoders.clear()
    assert encoders.get_text_encoder(embedding_model).runtime == "onnxruntime"


def test_new_weights_at_the_same_path_get_their_own_export(embedding_model: Any, tmp_path: Any) -> None:
    from embeddings.encoders.registry import register_model

    checkpoint = tmp_path / "weights.pt"
    shutil.copyfile(embedding_model.pretrained, checkpoint)
    first = register_model("copy", TEST_MODEL_ARCH, str(checkpoint))
    before = find_export(first)
    torch.manual_seed(1)
    retrained = open_clip.create_model(TEST_MODEL_ARCH, pretrained=None)
    torch.save({"state_dict": retrained.state_dict()}, checkpoint)
    assert find_export(first) is None  # the old export is not taken for the new weights
    call_command("export_onnx_towers", "copy")
    after = find_export(first)
    assert before is not None and after is not None and after.folder != before.folder
    expected = TextEncoder(Spec(TEST_MODEL_ARCH, str(checkpoint)), torch.device("cpu")).encode(QUERIES[:1])
    np.testing.assert_allclose(OnnxTextEncoder(after).encode(QUERIES[:1]), expected, atol=1e-5)


def test_with_the_torch_runtime_nothing_is_exported_and_open_clip_encodes(
    settings: Any, clip_checkpoint: str, tmp_path: Any, fresh_encoders: None
) -> None:
    from embeddings.encoders.registry import register_model

    settings.SEARCH_ENCODER_RUNTIME = "torch"
    checkpoint = tmp_path / "other.pt"
    shutil.copyfile(clip_checkpoint, checkpoint)
    model = register_model("torch-only", TEST_MODEL_ARCH, str(checkpoint))
    assert find_export(model) is None
    assert encoders.get_text_encoder(model).runtime == "torch"


def test_the_command_names_a_model_that_does_not_exist(embedding_model: Any) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no model named nowhere"):
        call_command("export_onnx_towers", "nowhere")


def test_activating_a_model_registered_without_an_export_exports_it_before_the_switch(
    settings: Any, clip_checkpoint: str, tmp_path: Any
) -> None:
    from embeddings.activation.service import activate
    from embeddings.encoders.registry import register_model

    checkpoint = tmp_path / "later.pt"
    shutil.copyfile(clip_checkpoint, checkpoint)
    settings.SEARCH_ENCODER_RUNTIME = "torch"
    model = register_model("later", TEST_MODEL_ARCH, str(checkpoint))
    assert find_export(model) is None
    settings.SEARCH_ENCODER_RUNTIME = "onnx"
    assert activate(model).state == "active"
    assert find_export(model) is not None


def test_an_export_of_an_older_format_is_replaced(embedding_model: Any) -> None:
    export = find_export(embedding_model)
    assert export is not None
    description = export.folder / "tower.json"
    description.write_text(json.dumps({**json.loads(description.read_text()), "format": 0}))
    assert find_export(embedding_model) is None
    call_command("export_onnx_towers")
    replaced = find_export(embedding_model)
    assert replaced is not None and replaced.folder == export.folder
