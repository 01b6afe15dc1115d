"""Exporting a model's text tower to ONNX, for web processes to run without PyTorch (``embeddings.encoders.text_onnx``).

Done once per model weights, by the process that registers the model, into MODEL_CACHE_DIR. The
export is checked against open_clip before it is kept: a graph whose vectors differ from the
PyTorch tower's is never used.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
from django.conf import settings
from open_clip.tokenizer import SimpleTokenizer, default_bpe

from embeddings.encoders.clip import TextEncoder, embedding_dimension
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
TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """This model's text tower cannot be exported, or its export does not match open_clip."""


def export_for_web_processes(model: EmbeddingModel) -> TextTowerExport | None:
    """The export web processes will use (SEARCH_TEXT_RUNTIME=onnx), made if it is missing; None if it
    cannot be made: the model is then searched with PyTorch, and the log says why."""
    if settings.SEARCH_TEXT_RUNTIME != "onnx":
        return None
    try:
        return export_text_tower(model)
    except ExportError as exc:
        logger.warning(
            "model %s: its text tower is not exported to ONNX (%s); web processes use PyTorch", model.name, exc
        )
        return None


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
    partial = folder.with_name(f"{folder.name}.part-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
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
        try:
            partial.rename(folder)
        except OSError:
            if find_export(spec) is None:  # not another process's export: an older format, or a damaged one
                shutil.rmtree(folder)
                partial.rename(folder)
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
