"""Decoding image files into what a model's preprocessing starts from, with PIL alone.

Nothing here imports Django or PyTorch: decoding processes (``decoding_processes``) run it without
either, and the threads of an embedding task run the same functions, so a vector never
depends on which of them decoded its image.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from embeddings.images.types import ImageError

_EXIF_ORIENTATION = 0x0112
_QUARTER_TURNS = {5, 6, 7, 8}


def check_image_bytes(data: bytes, max_pixels: int) -> None:
    decode_image(data, max_pixels)


def decode_image(
    data: bytes, max_pixels: int, draft_size: tuple[int, int] | None = None, *, reduce: bool = False
) -> Image.Image:
    """Decode to an RGB image, refusing empty, non-image, truncated and oversized inputs.

    With ``draft_size`` a JPEG decodes at the smallest DCT scale that keeps both sides at least
    that large (PIL's ``draft``); other formats decode in full. With ``reduce`` as well, the decoded
    image is then shrunk by the largest whole factor that keeps both sides at least ``draft_size``
    (PIL's ``reduce``, a box filter), before it is turned upright and converted to RGB: an upload
    costs the memory of the size the model needs, not of its full size. The harvest does not
    reduce, so its vectors stay those its pixel cache holds.
    """
    if not data:
        raise ImageError("image is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(f"image is {width}x{height} pixels (limit {max_pixels})")
            image.seek(0)  # animated images: the first frame
            if draft_size is not None and image.format == "JPEG":
                image.draft(image.mode, _as_stored(draft_size, image))
            image.load()
            if reduce and draft_size is not None:
                image = _reduced(image, _as_stored(draft_size, image))
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image is too large: {exc}") from None
    except Image.DecompressionBombWarning as exc:
        raise ImageError(f"image is too large: {exc}") from None
    except UnidentifiedImageError:
        raise ImageError("not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"image cannot be decoded: {exc}") from None
    image = ImageOps.exif_transpose(image)
    if image.mode != "RGB":
        # Composite transparency on white, as a page shows it, rather than on black.
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, rgba).convert("RGB")
        elif image.mode in ("I;16", "I;16B", "I;16L", "I"):
            image = image.point(lambda value: value / 256).convert("L").convert("RGB")
        else:
            image = image.convert("RGB")
    return image


def _as_stored(size: tuple[int, int], image: Image.Image) -> tuple[int, int]:
    """``size`` (of the upright picture) as the image is stored: the sides swap when EXIF turns it."""
    return (size[1], size[0]) if image.getexif().get(_EXIF_ORIENTATION, 1) in _QUARTER_TURNS else size


def _reduced(image: Image.Image, least: tuple[int, int]) -> Image.Image:
    """``image`` shrunk by the largest whole factor that keeps its sides at least ``least`` (its
    ``info``, EXIF orientation included, goes with it)."""
    factor = min(image.width // max(least[0], 1), image.height // max(least[1], 1))
    if factor < 2:
        return image
    if image.mode not in _REDUCIBLE_MODES:  # one-bit, 16-bit and palette images: to a mode reduce takes
        if image.mode == "1":
            image = image.convert("L")
        elif image.mode.startswith("I;16"):
            image = image.convert("I")  # still 16-bit values, scaled down below as before
        else:
            image = image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB")
    return image.reduce(factor)


_REDUCIBLE_MODES = {"L", "LA", "RGB", "RGBA", "I", "F", "CMYK", "YCbCr"}


@dataclass(frozen=True)
class ResizeCrop:
    """A model's resize and centre crop (then RGB), pixel for pixel as torchvision does them on PIL images.

    ``size``: (side,) resizes the shorter side to ``side`` keeping the aspect ratio (the long side
    truncated, as torchvision computes it); (height, width) resizes to exactly that. ``crop``:
    (height, width) of the centred crop, zero-padded where the image is smaller.
    ``interpolation``: a PIL resampling filter number.
    """

    size: tuple[int, ...]
    interpolation: int
    crop: tuple[int, int]

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of an image of this size after the resize."""
        if len(self.size) == 1:
            short, long = (width, height) if width <= height else (height, width)
            new_short, new_long = self.size[0], int(self.size[0] * long / short)
            return (new_short, new_long) if width <= height else (new_long, new_short)
        return self.size[1], self.size[0]

    def crop_origin(self, width: int, height: int) -> tuple[int, int]:
        """(left, top) of the centred crop in a resized image of this size; negative where the crop is
        larger than the image, whose outside is then zeros."""
        crop_height, crop_width = self.crop
        # torchvision pads a side the crop is larger than (left/top get the smaller half), then crops
        # at offset round((side - crop) / 2) with Python's rounding.
        left = -((crop_width - width) // 2) if crop_width > width else round((width - crop_width) / 2.0)
        top = -((crop_height - height) // 2) if crop_height > height else round((height - crop_height) / 2.0)
        return left, top

    def apply(self, image: Image.Image) -> Image.Image:
        width, height = image.size
        new_width, new_height = self.resized_size(width, height)
        if (new_width, new_height) != (width, height):
            image = image.resize((new_width, new_height), self.interpolation)
        left, top = self.crop_origin(new_width, new_height)
        crop_height, crop_width = self.crop
        cropped = image.crop((left, top, left + crop_width, top + crop_height))  # PIL fills outside with 0
        return cropped if cropped.mode == "RGB" else cropped.convert("RGB")

    def as_dict(self) -> dict[str, object]:
        return {"size": list(self.size), "interpolation": self.interpolation, "crop": list(self.crop)}

    @classmethod
    def from_dict(cls, data: dict[str, list[int] | int]) -> ResizeCrop:
        size, crop, interpolation = data["size"], data["crop"], data["interpolation"]
        assert isinstance(size, list) and isinstance(crop, list) and isinstance(interpolation, int)
        return cls(size=tuple(size), interpolation=interpolation, crop=(crop[0], crop[1]))


def prepare_file(data: bytes, max_pixels: int, draft_size: tuple[int, int] | None, recipe: ResizeCrop) -> Image.Image:
    """An image file's bytes, decoded, resized and cropped: an RGB image of ``recipe.crop``."""
    return recipe.apply(decode_image(data, max_pixels, draft_size))
