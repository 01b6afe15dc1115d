"""Images that break naive decoders, made in memory for tests."""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache
from typing import Any

from PIL import Image


def encode(image: Image.Image, kind: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


@cache
def decompression_bomb_png(side: int = 30000, *, rgb: bool = False) -> bytes:
    """A valid PNG of side x side black pixels, small on the wire and huge decoded: one-bit (30000: 112 MB
    decoded, about 100 KB sent), or 8-bit RGB (6300: 119 MB decoded, more as it is converted, 116 KB sent).
    The rows are compressed one by one, so making it costs no more memory than sending it."""
    bit_depth, colour_type, row_bytes = (8, 2, side * 3) if rgb else (1, 0, (side + 7) // 8)
    row = b"\x00" + b"\x00" * row_bytes
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    chunks = [
        (b"IHDR", struct.pack(">IIBBBBB", side, side, bit_depth, colour_type, 0, 0, 0)),
        (b"IDAT", pixels),
        (b"IEND", b""),
    ]
    body = b"".join(
        struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data)) for tag, data in chunks
    )
    return b"\x89PNG\r\n\x1a\n" + body


def scene(size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A picture with structure (not a flat colour), so a wrong rotation changes its embedding."""
    image = Image.new("RGB", size, (240, 240, 230))
    for x in range(size[0]):
        for y in range(size[1] // 3):
            image.putpixel((x, y), (20 + 3 * x % 200, 40, 160))
    return image


def exif_rotated_jpeg() -> tuple[bytes, Image.Image]:
    """A JPEG stored on its side with EXIF orientation 6, and the upright picture it shows."""
    upright = scene()
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back clockwise
    exif = stored.getexif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=95, exif=exif), upright


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (32, 32), colour) for colour in ("red", "green", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def palette_with_transparency_png() -> bytes:
    image = Image.new("P", (32, 32), 0)
    image.putpalette([0, 0, 0, 200, 30, 30] + [0, 0, 0] * 254)
    for x in range(16):
        for y in range(32):
            image.putpixel((x, y), 1)
    return encode(image, "PNG", transparency=0)


def sixteen_bit_png() -> bytes:
    image = Image.new("I;16", (32, 32))
    for x in range(32):
        for y in range(32):
            image.putpixel((x, y), x * 2000)
    return encode(image, "PNG")


def cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (32, 32), (0, 200, 200, 0)), "JPEG")


def truncated_jpeg() -> bytes:
    data = encode(scene((400, 300)), "JPEG", quality=95)
    return data[: len(data) // 3]
