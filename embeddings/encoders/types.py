"""What names a model's weights, what an encoder offers, and what a failed load raises.

Shared by the encoders (``clip``, ``text_onnx``, ``image_onnx``) and the per-process choice among them
(``per_process``); nothing here imports PyTorch or ONNX Runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image


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


class TextEncoding(Protocol):
    runtime: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


class ImageQueryEncoding(Protocol):
    """What search by image needs of an image tower: how small a picture may be decoded, and its vectors."""

    runtime: str
    draft_size: tuple[int, int] | None

    def encode_images(self, images: list[Image.Image]) -> np.ndarray: ...
