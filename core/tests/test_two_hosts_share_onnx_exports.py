"""Two hosts, one store: the towers host A exported to ONNX are found by host B, whose own
MODEL_CACHE_DIR has none, under the model's name and weights digest."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from conftest import TEST_MODEL_ARCH
from embeddings.encoders.image_onnx import OnnxImageEncoder, find_image_export
from embeddings.encoders.onnx_export import export_image_tower, export_text_tower
from embeddings.encoders.text_onnx import OnnxTextEncoder, export_folder, export_key, find_export
from embeddings.encoders.types import Spec
from training.storage import publish_checkpoint

QUERIES = ["a stormy sea at night", "haystacks"]


def test_an_export_made_on_one_host_is_found_by_another(
    s3_store: Any, settings: Any, clip_checkpoint: str, tmp_path: Path
) -> None:
    settings.MODEL_CACHE_DIR = tmp_path / "host-a"
    spec = Spec(TEST_MODEL_ARCH, publish_checkpoint(Path(clip_checkpoint)))
    made = export_text_tower(spec)
    vectors_a = OnnxTextEncoder(made).encode(QUERIES)
    published = s3_store.list_keys(export_key(spec) + "/")
    assert {key.rsplit("/", 1)[1] for key in published} >= {"tower.json", "text_tower.onnx"}
    shutil.rmtree(tmp_path / "host-a")

    settings.MODEL_CACHE_DIR = tmp_path / "host-b"
    found = find_export(spec)

    assert found is not None and found.folder == export_folder(spec)
    assert found.folder.is_relative_to(tmp_path / "host-b")
    assert np.array_equal(OnnxTextEncoder(found).encode(QUERIES), vectors_a)


def test_without_a_published_export_another_host_finds_none(s3_store: Any, settings: Any, tmp_path: Path) -> None:
    settings.MODEL_CACHE_DIR = tmp_path / "host-b"

    assert find_export(Spec(TEST_MODEL_ARCH, "artifact:checkpoints/" + "1" * 64 + ".pt")) is None
    assert not (tmp_path / "host-b" / "onnx-towers").exists() or not any(
        (tmp_path / "host-b" / "onnx-towers").iterdir()
    )


def test_an_image_tower_published_later_reaches_a_host_holding_the_text_tower(
    s3_store: Any, settings: Any, clip_checkpoint: str, tmp_path: Path
) -> None:
    settings.MODEL_CACHE_DIR = tmp_path / "host-a"
    spec = Spec(TEST_MODEL_ARCH, publish_checkpoint(Path(clip_checkpoint)))
    export_text_tower(spec)
    settings.MODEL_CACHE_DIR = tmp_path / "host-b"
    assert find_export(spec) is not None  # host B now holds the text tower, and no image tower yet
    assert find_image_export(spec) is None

    settings.MODEL_CACHE_DIR = tmp_path / "host-a"
    made = export_image_tower(spec)
    pictures = [Image.new("RGB", (96, 64), (200, 40, 10)), Image.new("RGB", (50, 80), (10, 90, 240))]
    vectors_a = OnnxImageEncoder(made).encode_images(pictures)

    settings.MODEL_CACHE_DIR = tmp_path / "host-b"
    found = find_image_export(spec)

    assert found is not None and found.folder.is_relative_to(tmp_path / "host-b")
    assert np.array_equal(OnnxImageEncoder(found).encode_images(pictures), vectors_a)
    assert find_export(spec) is not None
