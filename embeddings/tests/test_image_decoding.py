from __future__ import annotations

import io

import pytest
from PIL import Image

from embeddings.images.decoding import decode_image
from embeddings.images.types import ImageError

MAX_PIXELS = 40_000_000


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_it_decodes_a_jpeg_to_rgb() -> None:
    image = decode_image(_encode(Image.new("RGB", (40, 30), "red"), "JPEG"), MAX_PIXELS)
    assert (image.mode, image.size) == ("RGB", (40, 30))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"<html>Not found</html>", "not an image"),
        (_encode(Image.new("RGB", (400, 300), "blue"), "JPEG")[:300], "cannot be decoded"),
    ],
)
def test_it_refuses_bad_bytes_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ImageError, match=reason):
        decode_image(data, MAX_PIXELS)


def test_it_refuses_a_decompression_bomb_before_decoding_it() -> None:
    bomb = _encode(Image.new("1", (30000, 30000)), "PNG", optimize=True)
    with pytest.raises(ImageError, match=r"pixels|too large"):
        decode_image(bomb, MAX_PIXELS)


def test_it_converts_cmyk_16_bit_and_palette_images() -> None:
    cmyk = decode_image(_encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"), MAX_PIXELS)
    assert cmyk.mode == "RGB" and cmyk.getpixel((4, 4))[0] > 200  # type: ignore[index]
    sixteen = decode_image(_encode(Image.new("I;16", (8, 8), 65535), "PNG"), MAX_PIXELS)
    assert sixteen.mode == "RGB" and sixteen.getpixel((0, 0)) == (255, 255, 255)
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0] * 256)
    clear = decode_image(_encode(palette, "PNG", transparency=0), MAX_PIXELS)
    assert clear.getpixel((0, 0)) == (255, 255, 255)  # transparent shows as white, not black


def test_it_takes_the_first_frame_of_an_animated_gif() -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "green")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    image = decode_image(buffer.getvalue(), MAX_PIXELS)
    red, green, _ = image.getpixel((0, 0))  # type: ignore[misc]
    assert red > 200 and green < 50


def test_it_applies_exif_rotation() -> None:
    image = Image.new("RGB", (40, 20), "white")
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    rotated = decode_image(_encode(image, "JPEG", exif=exif), MAX_PIXELS)
    assert rotated.size == (20, 40)
