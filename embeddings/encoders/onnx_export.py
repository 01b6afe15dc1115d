"""Exporting a model's text and image towers to ONNX, for web processes to run without PyTorch
(``embeddings.encoders.text_onnx``, ``embeddings.encoders.image_onnx``).

Done once per model weights, by the process that registers (or activates) the model, into one
folder per weights (``text_onnx.export_folder``) that holds both towers. Each export is checked
against open_clip before it is kept: a graph whose vectors differ from the PyTorch tower's is never
used. A tower is written to a private folder, checked, then moved into place file by file, its
description last: a reader finds a description only once the files it describes are there, and the
other tower's files in the folder are left as they are.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
from django.conf import settings
from open_clip.tokenizer import SimpleTokenizer, default_bpe
from PIL import Image

from embeddings.encoders.clip import ImageEncoder, TextEncoder, _split_preprocess, embedding_dimension
from embeddings.encoders.image_onnx import (
    IMAGE_DESCRIPTION_FILE,
    IMAGE_EXPORT_FORMAT,
    IMAGE_GRAPH_FILE,
    ImageTowerExport,
    OnnxImageEncoder,
    find_image_export,
    read_image_export,
)
from embeddings.encoders.text_onnx import (
    DESCRIPTION_FILE,
    EXPORT_FORMAT,
    GRAPH_FILE,
    VOCABULARY_FILE,
    OnnxTextEncoder,
    TextTowerExport,
    export_folder,
    find_export,
    publish_export,
)
from embeddings.encoders.types import ModelSpec
from embeddings.models import EmbeddingModel

logger = logging.getLogger(__name__)

# Queries that cover the tokenizer's paths: plain words, punctuation, digits, accents, html, and one
# longer than any context (truncated, ending in the end-of-text token).
CHECK_TEXTS = [
    "a stormy sea at night",
    "Madame Cézanne in a Yellow Chair, 1888\u201390",
    "  Nighthawks &amp; the CITY  ",
    "x",
    "the haystacks at giverny " * 30,
]
# Largest difference allowed between a vector of an export and open_clip's, component by component.
TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """This model's tower cannot be exported, or its export does not match open_clip."""


@dataclass(frozen=True)
class WebProcessExports:
    """The exports web processes will run; None for a tower that is searched with PyTorch."""

    text: TextTowerExport | None
    image: ImageTowerExport | None


def export_for_web_processes(model: EmbeddingModel) -> WebProcessExports:
    """The exports web processes will use (SEARCH_ENCODER_RUNTIME=onnx), made where missing. A tower
    that cannot be exported is None: the model's queries of that kind are then encoded with PyTorch,
    and the log says why."""
    if settings.SEARCH_ENCODER_RUNTIME != "onnx":
        return WebProcessExports(None, None)
    text: TextTowerExport | None = None
    image: ImageTowerExport | None = None
    try:
        text = export_text_tower(model)
    except ExportError as exc:
        logger.warning(
            "model %s: its text tower is not exported to ONNX (%s); web processes use PyTorch", model.name, exc
        )
    try:
        image = export_image_tower(model)
    except ExportError as exc:
        logger.warning(
            "model %s: its image tower is not exported to ONNX (%s); web processes use PyTorch", model.name, exc
        )
    return WebProcessExports(text, image)


def _private_folder(folder: Path, tower: str) -> Path:
    partial = folder.with_name(f"{folder.name}.{tower}-part-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def _publish(partial: Path, folder: Path, description_file: str) -> None:
    """Move a checked export's files into ``folder``, its description last."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(partial.iterdir()):
        if path.name != description_file:
            os.replace(path, folder / path.name)
    os.replace(partial / description_file, folder / description_file)


def export_text_tower(spec: ModelSpec) -> TextTowerExport:
    """The ONNX export of ``spec``'s text tower, written now unless it is already there."""
    existing = find_export(spec)
    if existing is not None:
        return existing
    started = time.monotonic()
    encoder = TextEncoder(spec, torch.device("cpu"))
    tokenizer = encoder.tokenizer
    if not encoder._trim or not isinstance(encoder.model, open_clip.CLIP):
        raise ExportError(f"{spec.architecture}: only CLIP text towers with a causal mask and argmax pooling export")
    if (
        not isinstance(tokenizer, SimpleTokenizer)
        or tokenizer.clean_fn.__name__ != "_clean_lower"
        or tokenizer.reduction_fn is not None
        or tokenizer.vocab_size != 49408
        or not tokenizer.context_length
    ):
        raise ExportError(f"{spec.architecture}: its tokenizer is not CLIP's byte-pair tokenizer with lower-casing")
    context_length = int(tokenizer.context_length)
    folder = export_folder(spec)
    partial = _private_folder(folder, "text")
    try:
        _write_graph(encoder, context_length, partial / GRAPH_FILE)
        shutil.copyfile(default_bpe(), partial / VOCABULARY_FILE)
        dimension = embedding_dimension(spec.architecture)
        description = {
            "format": EXPORT_FORMAT,
            "architecture": spec.architecture,
            "pretrained": spec.pretrained,
            "context_length": context_length,
            "dimension": dimension,
            "open_clip": open_clip.__version__,
            "torch": torch.__version__,
        }
        (partial / DESCRIPTION_FILE).write_text(json.dumps(description, indent=2))
        _check(encoder, TextTowerExport(partial, context_length, dimension))
        _publish(partial, folder, DESCRIPTION_FILE)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    logger.info("exported the %s text tower to %s in %.1f s", spec.architecture, folder, time.monotonic() - started)
    export = find_export(spec)
    if export is None:
        raise ExportError(f"{spec.architecture}: the export in {folder} cannot be read back")
    publish_export(spec)
    return export


class _TextTower(torch.nn.Module):
    def __init__(self, encoder: TextEncoder) -> None:
        super().__init__()
        self.model = encoder.model
        self.encoder = encoder

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.encoder.encode_tokens(tokens)


def _write_graph(encoder: TextEncoder, context_length: int, path: Path) -> None:
    # Two texts of several tokens, so that neither dimension is taken for a constant.
    example = encoder.tokenizer(["a stormy sea", "a stormy sea at night"])[:, :6]
    shapes = {
        "tokens": {
            0: torch.export.Dim("texts", min=1, max=4096),
            1: torch.export.Dim("length", min=2, max=context_length),
        }
    }
    try:
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                _TextTower(encoder).eval(),
                (example,),
                str(path),
                dynamo=True,
                dynamic_shapes=shapes,
                input_names=["tokens"],
                output_names=["vectors"],
                external_data=True,
                verbose=False,
            )
    except Exception as exc:  # the exporter raises many kinds
        raise ExportError(f"{type(exc).__name__}: {exc}") from exc


def _check(encoder: TextEncoder, export: TextTowerExport) -> None:
    exported = OnnxTextEncoder(export)
    for text in CHECK_TEXTS:
        expected = encoder.encode([text])
        tokens = exported.tokenizer([text])
        if not np.array_equal(tokens, encoder.tokenizer([text]).numpy()):
            raise ExportError(f"the tokenizer differs from open_clip's on {text[:40]!r}")
        difference = float(np.abs(exported.encode([text]) - expected).max())
        if difference > TOLERANCE:
            raise ExportError(f"the export's vector differs from open_clip's by {difference:.2e} on {text[:40]!r}")
    pair = exported.encode(CHECK_TEXTS[:2])
    if float(np.abs(pair - encoder.encode(CHECK_TEXTS[:2])).max()) > TOLERANCE:
        raise ExportError("the export's vectors for a batch of texts differ from open_clip's")


def export_image_tower(spec: ModelSpec) -> ImageTowerExport:
    """The ONNX export of ``spec``'s image tower, written now unless it is already there."""
    existing = find_image_export(spec)
    if existing is not None:
        return existing
    started = time.monotonic()
    encoder = ImageEncoder(spec, torch.device("cpu"))
    _, normalize = _split_preprocess(encoder.preprocess)
    if encoder.recipe is None or normalize is None:
        raise ExportError(f"{spec.architecture}: its preprocess is not a resize, a crop and a normalisation")
    mean = [float(value) for value in normalize.mean]
    std = [float(value) for value in normalize.std]
    if len(mean) != 3 or len(std) != 3:
        raise ExportError(f"{spec.architecture}: its normalisation is not one mean and std per colour")
    preprocess_cfg = dict(getattr(encoder.model.visual, "preprocess_cfg", {}))
    folder = export_folder(spec)
    partial = _private_folder(folder, "image")
    try:
        crop_height, crop_width = encoder.recipe.crop
        _write_image_graph(encoder, crop_height, crop_width, partial / IMAGE_GRAPH_FILE)
        description = {
            "format": IMAGE_EXPORT_FORMAT,
            "architecture": spec.architecture,
            "pretrained": spec.pretrained,
            "dimension": embedding_dimension(spec.architecture),
            # What open_clip's preprocess does, as its config names it, then in pixels (what is run).
            "image_size": preprocess_cfg.get("size"),
            "resize_mode": preprocess_cfg.get("resize_mode"),
            "interpolation": preprocess_cfg.get("interpolation"),
            "resize_crop": encoder.recipe.as_dict(),
            "mean": mean,
            "std": std,
            "open_clip": open_clip.__version__,
            "torch": torch.__version__,
        }
        (partial / IMAGE_DESCRIPTION_FILE).write_text(json.dumps(description, indent=2))
        written = read_image_export(partial)
        if written is None:
            raise ExportError(f"{spec.architecture}: the image export cannot be read back")
        _check_images(encoder, written)
        _publish(partial, folder, IMAGE_DESCRIPTION_FILE)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    logger.info("exported the %s image tower to %s in %.1f s", spec.architecture, folder, time.monotonic() - started)
    export = find_image_export(spec)
    if export is None:
        raise ExportError(f"{spec.architecture}: the image export in {folder} cannot be read back")
    publish_export(spec)
    return export


class _ImageTower(torch.nn.Module):
    def __init__(self, encoder: ImageEncoder) -> None:
        super().__init__()
        self.model = encoder.model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels, normalize=True)


def _write_image_graph(encoder: ImageEncoder, height: int, width: int, path: Path) -> None:
    # Two images, so that the batch dimension is not taken for a constant.
    example = torch.zeros((2, 3, height, width), dtype=torch.float32)
    shapes = {"pixels": {0: torch.export.Dim("images", min=1, max=4096)}}
    try:
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                _ImageTower(encoder).eval(),
                (example,),
                str(path),
                dynamo=True,
                dynamic_shapes=shapes,
                input_names=["pixels"],
                output_names=["vectors"],
                external_data=True,
                verbose=False,
            )
    except Exception as exc:  # the exporter raises many kinds
        raise ExportError(f"{type(exc).__name__}: {exc}") from exc


def check_images() -> list[Image.Image]:
    """Seeded pictures that cover the preprocess's paths: landscape and portrait, larger and smaller
    than the model's size, odd sides (the crop's rounding), grey and with alpha (converted after the
    resize)."""
    generator = np.random.default_rng(0)
    images = []
    for width, height, mode in [
        (640, 480, "RGB"),
        (301, 907, "RGB"),
        (257, 129, "L"),
        (23, 17, "RGB"),
        (96, 96, "RGBA"),
    ]:
        channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
        noise = generator.integers(0, 256, (height, width, channels), dtype=np.uint8)
        ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
        pixels = ((noise.astype(np.float32) + ramp) / 2).astype(np.uint8)
        images.append(Image.fromarray(pixels[:, :, 0] if mode == "L" else pixels, mode))
    return images


def image_vectors_difference(encoder: ImageEncoder, exported: OnnxImageEncoder, images: list[Image.Image]) -> float:
    """The largest difference between the export's vectors of ``images`` (one batch) and open_clip's,
    each image through open_clip's own preprocess."""
    expected = encoder.encode(torch.stack([encoder.preprocess(image) for image in images]))
    return float(np.abs(exported.encode_images(images) - expected).max())


def _check_images(encoder: ImageEncoder, export: ImageTowerExport) -> None:
    exported = OnnxImageEncoder(export)
    images = check_images()
    for index, image in enumerate(images):
        difference = image_vectors_difference(encoder, exported, [image])
        if difference > TOLERANCE:
            raise ExportError(
                f"the export's vector differs from open_clip's by {difference:.2e} on check image {index} "
                f"({image.width}x{image.height} {image.mode})"
            )
    if image_vectors_difference(encoder, exported, images) > TOLERANCE:
        raise ExportError("the export's vectors for a batch of images differ from open_clip's")
