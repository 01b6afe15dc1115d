"""A large JPEG decodes at a reduced DCT scale when the model needs fewer pixels, never below what it needs."""

from __future__ import annotations

import io

from PIL import Image

from embeddings.images.decoding import decode_image

MAX_PIXELS = 40_000_000


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_it_decodes_a_large_jpeg_at_the_smallest_scale_that_keeps_the_needed_size() -> None:
    data = _encode(Image.new("RGB", (1800, 1200), "teal"), "JPEG")
    assert decode_image(data, MAX_PIXELS).size == (1800, 1200)
    assert decode_image(data, MAX_PIXELS, draft_size=(224, 224)).size == (450, 300)  # 1/4: 1/8 is under 224
    assert decode_image(data, MAX_PIXELS, draft_size=(1000, 1000)).size == (1800, 1200)


def test_it_keeps_the_needed_size_of_an_image_turned_upright_by_exif() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side
    data = _encode(Image.new("RGB", (1600, 400), "teal"), "JPEG", exif=exif)
    image = decode_image(data, MAX_PIXELS, draft_size=(100, 300))
    assert image.size == (100, 400)  # a quarter, upright: both sides still cover the needed (100, 300)


def test_it_decodes_other_formats_in_full() -> None:
    data = _encode(Image.new("RGB", (1800, 1200), "teal"), "PNG")
    assert decode_image(data, MAX_PIXELS, draft_size=(224, 224)).size == (1800, 1200)
