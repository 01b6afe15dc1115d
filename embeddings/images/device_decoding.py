"""Decoding cached JPEGs on the embedding device, and resizing them there (EMBED_DECODE_ON_DEVICE).

A GPU runs the image tower faster than a machine's cores can decode and resize JPEGs with PIL
(mostly the antialiased bicubic resize), so on a GPU machine the cores bound the pipeline
(``bench.embed`` measures the rates, ``bench.gpu_decode`` the decoding alone). Here the threads only
read the file and its header; ``torchvision.io.decode_jpeg`` decodes a whole forward batch at once
(nvjpeg on CUDA) and torch resizes each image with the same filter, rounded to uint8 as PIL's are.
The crops differ slightly from PIL's (``bench.gpu_decode`` measures by how much): a vector then
depends a little on the worker's settings, as fp16 on a GPU already makes it.

Images the device path does not take go the usual way: other formats, CMYK, EXIF rotations
(PIL turns them upright), and any file the device's decoder refuses, whose error PIL then reports.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image

from embeddings.images.decoding import ResizeCrop

_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class DevicePixels:
    """An image resized and cropped on the device: a (3, height, width) float tensor of whole values
    0-255, as the model's resize and crop leave a PIL image (not yet divided by 255)."""

    pixels: torch.Tensor


@dataclass(frozen=True)
class EncodedJpeg:
    """A cached JPEG's bytes, checked to be one the device can decode as it is."""

    data: bytes
    width: int
    height: int


def device_jpeg(data: bytes, max_pixels: int) -> EncodedJpeg | None:
    """The file as an EncodedJpeg when its header shows a plain RGB or greyscale JPEG, upright and
    within ``max_pixels``; None for anything else (PIL's path decodes it, or says why it cannot)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # the header only: no pixels are decoded
            if image.format != "JPEG" or image.mode not in ("RGB", "L"):
                return None
            width, height = image.size
            if width * height > max_pixels or image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
                return None
    except Exception:  # not an image, a bomb, a broken header: PIL's path gives the reason
        return None
    return EncodedJpeg(data, width, height)


def decode_on_device(images: list[EncodedJpeg], device: torch.device) -> list[torch.Tensor | None]:
    """Each image as a (3, height, width) uint8 tensor on ``device``, or None where it cannot be decoded.

    One call for the batch (nvjpeg decodes a list faster than one image at a time); if the batch
    fails, image by image, so one bad file costs only itself.
    """
    from torchvision.io import ImageReadMode, decode_jpeg

    if not images:
        return []
    encoded = [torch.frombuffer(bytearray(image.data), dtype=torch.uint8) for image in images]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision 0.29 points to TorchCodec; the function is unchanged
        try:
            decoded: list[torch.Tensor | None] = list(decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device))
        except RuntimeError:
            decoded = []
            for one in encoded:
                try:
                    decoded.append(decode_jpeg(one, mode=ImageReadMode.RGB, device=device))
                except RuntimeError:
                    decoded.append(None)
    return [
        tensor if tensor is not None and tuple(tensor.shape) == (3, image.height, image.width) else None
        for tensor, image in zip(decoded, images, strict=True)
    ]


def resize_crop(image: torch.Tensor, recipe: ResizeCrop) -> torch.Tensor:
    """A (3, H, W) uint8 image resized and centre-cropped as ``recipe`` says (the pixels of DevicePixels)."""
    _, height, width = image.shape
    new_width, new_height = recipe.resized_size(width, height)
    crop_height, crop_width = recipe.crop
    pixels = image.unsqueeze(0).float()
    if (new_width, new_height) != (width, height):
        pixels = (
            F.interpolate(pixels, size=(new_height, new_width), mode=_TORCH_MODES[recipe.interpolation], antialias=True)
            .round_()
            .clamp_(0, 255)
        )
    left, top = recipe.crop_origin(new_width, new_height)
    # Zeros outside the image, as PIL's crop gives them.
    padding = (
        max(0, -left),
        max(0, left + crop_width - new_width),
        max(0, -top),
        max(0, top + crop_height - new_height),
    )
    if any(padding):
        pixels = F.pad(pixels, padding)
        left, top = left + padding[0], top + padding[2]
    return pixels[0, :, top : top + crop_height, left : left + crop_width]


def takes(recipe: ResizeCrop | None) -> bool:
    """Whether the device path can resize as this recipe does (a resampling filter torch has)."""
    return recipe is not None and recipe.interpolation in _TORCH_MODES


_TORCH_MODES = {int(Image.Resampling.BICUBIC): "bicubic", int(Image.Resampling.BILINEAR): "bilinear"}
