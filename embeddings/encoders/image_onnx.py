"""The image tower exported to ONNX and run by ONNX Runtime: how a web process encodes an uploaded picture.

A web process that searches by image needs neither PyTorch, torchvision nor open_clip: the picture
is resized and cropped with PIL (``ResizeCrop``, torchvision's arithmetic on PIL images), scaled and
normalised with numpy as ``ToTensor`` and ``Normalize`` do, and run through the exported graph. The
export is written beside the text tower's, into the same folder (``text_onnx.export_folder``), by
``embeddings.encoders.onnx_export`` when a model is registered or activated, and kept only if it gives
open_clip's vectors.

An image export is three files: the graph (``(images, 3, height, width)`` float32 pixels in,
L2-normalised vectors out), its weights (``image_tower.onnx.data``), and ``image_tower.json``, which
records how open_clip prepares a picture for this model: image size, resize mode, interpolation,
the resize and crop in pixels, and the normalisation's mean and std.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from embeddings.encoders.text_onnx import export_folder, fetch_published_tower
from embeddings.encoders.types import ModelSpec
from embeddings.images.decoding import ResizeCrop

IMAGE_EXPORT_FORMAT = 1
IMAGE_GRAPH_FILE = "image_tower.onnx"
IMAGE_STEM = "image_tower"
IMAGE_DESCRIPTION_FILE = "image_tower.json"


@dataclass(frozen=True)
class ImageTowerExport:
    folder: Path
    dimension: int
    resize_crop: ResizeCrop
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def graph(self) -> Path:
        return self.folder / IMAGE_GRAPH_FILE

    @property
    def draft_size(self) -> tuple[int, int]:
        """(width, height) that a decoded picture must keep for the first resize (JPEG draft, reduce)."""
        size = self.resize_crop.size
        return (size[0], size[0]) if len(size) == 1 else (size[1], size[0])


def find_image_export(spec: ModelSpec) -> ImageTowerExport | None:
    """The export of these weights' image tower, or None where there is none (or an older format)."""
    folder = export_folder(spec)
    if not (folder / IMAGE_DESCRIPTION_FILE).is_file():
        fetch_published_tower(spec, IMAGE_STEM)
    return read_image_export(folder)


def read_image_export(folder: Path) -> ImageTowerExport | None:
    """The image tower exported in ``folder``, or None where there is none (or an older format)."""
    try:
        description = json.loads((folder / IMAGE_DESCRIPTION_FILE).read_text())
    except (OSError, ValueError):
        return None
    if description.get("format") != IMAGE_EXPORT_FORMAT:
        return None
    mean, std = description["mean"], description["std"]
    return ImageTowerExport(
        folder=folder,
        dimension=int(description["dimension"]),
        resize_crop=ResizeCrop.from_dict(description["resize_crop"]),
        mean=(float(mean[0]), float(mean[1]), float(mean[2])),
        std=(float(std[0]), float(std[1]), float(std[2])),
    )


class OnnxImageEncoder:
    """PIL images in, L2-normalised float32 vectors out, as ``embeddings.encoders.clip.ImageEncoder`` gives them."""

    runtime = "onnxruntime"

    def __init__(self, export: ImageTowerExport) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # Spinning threads between queries take the cores from the database and the other workers.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(export.graph), options, providers=["CPUExecutionProvider"])
        self.resize_crop = export.resize_crop
        self.draft_size: tuple[int, int] | None = export.draft_size
        self._mean = np.asarray(export.mean, dtype=np.float32)
        self._std = np.asarray(export.std, dtype=np.float32)

    def pixels(self, image: Image.Image) -> np.ndarray:
        """The (3, height, width) float32 input of ``image``: open_clip's preprocess without torchvision."""
        resized = np.asarray(self.resize_crop.apply(image), dtype=np.float32)
        # ToTensor, then Normalize, in float32 as torchvision computes them.
        normalised = (resized / np.float32(255) - self._mean) / self._std
        return np.ascontiguousarray(normalised.transpose(2, 0, 1))

    def encode_images(self, images: list[Image.Image]) -> np.ndarray:
        batch = np.stack([self.pixels(image) for image in images])
        (vectors,) = self.session.run(None, {"pixels": batch})
        return np.asarray(vectors, dtype=np.float32)
