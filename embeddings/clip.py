"""Loading open_clip models, and encoders that keep only the tower a process needs.

Architectures are data: open_clip's JSON configs plus ours in ``model_configs/`` and any
folder listed in CLIP_MODEL_CONFIG_DIRS. Weights are an open_clip pretrained tag or a
checkpoint path.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import open_clip
import torch
from django.conf import settings
from PIL import Image

MODEL_CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
_TEXT_TOWER_ATTRS = ("transformer", "token_embedding", "positional_embedding", "ln_final", "text_projection", "text")
_registered = False
_register_lock = threading.Lock()


class ModelSpec(Protocol):
    """What identifies a model's weights (EmbeddingModel satisfies it)."""

    @property
    def architecture(self) -> str: ...

    @property
    def pretrained(self) -> str: ...


@dataclass(frozen=True)
class Spec:
    architecture: str
    pretrained: str


class ModelLoadError(RuntimeError):
    """The architecture is unknown or its weights cannot be loaded."""


def register_model_configs() -> None:
    """Add our configs (and CLIP_MODEL_CONFIG_DIRS) to open_clip's registry, once per process."""
    global _registered
    with _register_lock:
        if _registered:
            return
        open_clip.add_model_config(MODEL_CONFIG_DIR)
        for folder in settings.CLIP_MODEL_CONFIG_DIRS:
            open_clip.add_model_config(Path(folder))
        _registered = True


def resolve_device(name: str | None = None) -> torch.device:
    name = name or settings.EMBED_DEVICE
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def create_clip(spec: ModelSpec, device: torch.device | str = "cpu") -> tuple[Any, Any]:
    """Build the model with its weights; returns (model in eval mode, validation preprocess)."""
    register_model_configs()
    if spec.architecture not in open_clip.list_models():
        raise ModelLoadError(f"unknown architecture {spec.architecture!r}; known: {', '.join(open_clip.list_models())}")
    pretrained = spec.pretrained.strip()
    if not pretrained or pretrained.lower() == "none":
        raise ModelLoadError(f"model {spec.architecture!r} has no weights: give a pretrained tag or a checkpoint path")
    if (pretrained.startswith("/") or pretrained.startswith(".")) and not Path(pretrained).is_file():
        raise ModelLoadError(f"checkpoint {pretrained} does not exist")
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            spec.architecture, pretrained=pretrained, device=device, cache_dir=str(settings.MODEL_CACHE_DIR)
        )
    except Exception as exc:  # open_clip raises many kinds: download, hub, shape mismatch
        raise ModelLoadError(f"cannot load {spec.architecture} weights {pretrained!r}: {exc}") from exc
    model.eval()
    return model, preprocess


def embedding_dimension(architecture: str) -> int:
    register_model_configs()
    config = open_clip.get_model_config(architecture)
    if config is None:
        raise ModelLoadError(f"unknown architecture {architecture!r}")
    return int(config["embed_dim"])


def _autocast(device: torch.device) -> Any:
    return torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else nullcontext()


class ImageEncoder:
    """The image tower of one model: PIL images in, L2-normalised float32 vectors out."""

    def __init__(self, spec: ModelSpec, device: torch.device | None = None) -> None:
        self.device = device or resolve_device()
        model, self.preprocess = create_clip(spec, self.device)
        for attr in _TEXT_TOWER_ATTRS:
            if hasattr(model, attr):
                setattr(model, attr, None)
        self.model = model

    def preprocess_image(self, image: Image.Image) -> torch.Tensor:
        return self.preprocess(image)

    def encode(self, batch: torch.Tensor) -> np.ndarray:
        with torch.inference_mode(), _autocast(self.device):
            features = self.model.encode_image(batch.to(self.device, non_blocking=True), normalize=True)
        return features.float().cpu().numpy()


class TextEncoder:
    """The text tower of one model: strings in, L2-normalised float32 vectors out."""

    def __init__(self, spec: ModelSpec, device: torch.device | None = None) -> None:
        self.device = device or resolve_device(settings.SEARCH_DEVICE)
        model, _ = create_clip(spec, self.device)
        model.visual = None
        self.model = model
        self.tokenizer = open_clip.get_tokenizer(spec.architecture)

    def encode(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(texts).to(self.device)
        with torch.inference_mode(), _autocast(self.device):
            features = self.model.encode_text(tokens, normalize=True)
        return features.float().cpu().numpy()


_encoders: dict[tuple[str, str, str], Any] = {}
_encoders_lock = threading.Lock()


def get_image_encoder(spec: ModelSpec) -> ImageEncoder:
    """This process's image encoder for ``spec``, loaded on first use."""
    return _cached("image", spec, ImageEncoder)


def get_text_encoder(spec: ModelSpec) -> TextEncoder:
    """This process's text encoder for ``spec``, loaded on first use."""
    return _cached("text", spec, TextEncoder)


def _cached(kind: str, spec: ModelSpec, factory: Any) -> Any:
    key = (kind, spec.architecture, spec.pretrained)
    with _encoders_lock:
        encoder = _encoders.get(key)
        if encoder is None:
            encoder = factory(Spec(spec.architecture, spec.pretrained))
            _encoders[key] = encoder
        return encoder


def loaded_encoders() -> list[tuple[str, str, str]]:
    with _encoders_lock:
        return list(_encoders)
