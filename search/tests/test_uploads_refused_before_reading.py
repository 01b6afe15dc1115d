"""Uploads are refused as early as they can be: a body declared too large before it is read (413),
the files of a request past IMAGE_MAX_BYTES as they arrive, a picture of too many pixels from its
header before it is decoded; and with CSRF enforced the page and the API both take an image."""

from __future__ import annotations

import io
import re
import socket
import time
from typing import Any
from urllib.parse import urlparse

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image, ImageFile

from catalog.models import Artwork
from conftest import SAMPLE_DIR
from museum_site.tests.hostile_images import decompression_bomb_png
from search import image_query

pytestmark = pytest.mark.django_db(transaction=True)

_HUGE = 200 * 1024 * 1024


def _jpeg(artwork: Artwork) -> bytes:
    return (SAMPLE_DIR / "images" / f"{artwork.image_id}.jpg").read_bytes()


def _raw_post(url: str, path: str, declared: int, sent: int) -> tuple[bytes, float]:
    """POST declaring ``declared`` body bytes but sending only ``sent``; the answer and how long it took."""
    address = urlparse(url)
    started = time.monotonic()
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\n"
            "Content-Type: multipart/form-data; boundary=xyz\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        )
        connection.sendall(head.encode() + b"--xyz\r\n" + b"\0" * sent)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < answer.find(b"\r\n\r\n") + 60:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
        elapsed = time.monotonic() - started
        connection.shutdown(socket.SHUT_RDWR)
    return answer, elapsed


def test_a_body_declared_over_the_cap_is_answered_413_before_it_is_sent(live_server: Any) -> None:
    for path in ("/api/search/image", "/search/image"):
        answer, elapsed = _raw_post(live_server.url, path, declared=_HUGE, sent=64 * 1024)
        # The client has sent 64 KB of the 200 MB it declared: the server answered without the rest.
        assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
        assert elapsed < 5, elapsed
        assert b"image is over 20971520 bytes" in answer, answer[:600]


def test_the_files_of_a_request_count_together_against_the_cap(db: None, settings: Any) -> None:
    settings.IMAGE_MAX_BYTES = 4096
    halves = {
        "image": SimpleUploadedFile("a.jpg", b"\xff" * 3000, "image/jpeg"),
        "other": SimpleUploadedFile("b.jpg", b"\xff" * 3000, "image/jpeg"),
    }
    refused = Client().post("/api/search/image", halves)
    assert refused.status_code == 400
    assert "image is over 4096 bytes" in refused.json()["error"]


def test_a_6300_pixel_square_png_is_refused_from_its_header(
    embedding_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str] = []
    original_load = ImageFile.ImageFile.load

    def load(self: ImageFile.ImageFile) -> Any:
        decoded.append(f"{self.format} {self.size}")
        return original_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    monkeypatch.setattr(image_query, "decode_image", lambda *args, **kwargs: decoded.append("decode_image"))
    bomb = decompression_bomb_png(6300, rgb=True)  # 116 KB sent, 119 MB of pixels decoded
    assert len(bomb) < 150_000
    client = Client(enforce_csrf_checks=True)
    started = time.monotonic()
    refused = client.post("/api/search/image", {"image": SimpleUploadedFile("poster.png", bomb, "image/png")})
    elapsed = time.monotonic() - started
    assert refused.status_code == 400
    assert refused.json()["error"] == "image is 6300x6300 pixels (limit 24000000): choose a smaller image"
    assert decoded == []  # neither decode_image nor any pixel decoding was reached
    assert elapsed < 1.0, elapsed


def test_the_page_takes_an_upload_with_csrf_enforced(indexed: list[Artwork]) -> None:
    strict = Client(enforce_csrf_checks=True)
    html = strict.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token is not None
    artwork = indexed[3]
    image = SimpleUploadedFile("photo.jpg", _jpeg(artwork), "image/jpeg")
    found = strict.post("/search/image", {"csrfmiddlewaretoken": token.group(1), "image": image})
    assert found.status_code == 200, found.content[:500]
    page = found.content.decode()
    assert f'href="/artworks/{artwork.aic_id}"' in page.split('class="card"')[1]
    image = SimpleUploadedFile("photo.jpg", _jpeg(artwork), "image/jpeg")
    assert strict.post("/search/image", {"image": image}).status_code == 403  # no token: refused


def test_the_api_takes_a_multipart_upload_with_csrf_enforced(live_server: Any, indexed: list[Artwork]) -> None:
    artwork = indexed[3]
    strict = Client(enforce_csrf_checks=True)
    image = SimpleUploadedFile("photo.jpg", _jpeg(artwork), "image/jpeg")
    assert strict.post("/api/search/image?k=3", {"image": image}).json()["results"][0]["id"] == artwork.aic_id
    # Over real HTTP, with no cookie and no token: the API is cookie-less and exempt.
    answer = requests.post(
        f"{live_server.url}/api/search/image?k=3", files={"image": ("photo.jpg", _jpeg(artwork))}, timeout=30
    )
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["results"][0]["id"] == artwork.aic_id


def test_a_large_upload_decodes_at_the_size_the_model_needs() -> None:
    wide = Image.new("RGB", (4000, 3000), (200, 30, 30))
    for kind in ("JPEG", "PNG", "WEBP"):
        buffer = io.BytesIO()
        wide.save(buffer, kind)
        image = image_query.read_upload(buffer.getvalue(), (224, 224))
        # Both sides keep at least 224 px; JPEG stops at its smallest DCT scale (1/8), the others reduce.
        assert min(image.size) >= 224 and image.width / image.height == pytest.approx(4 / 3, rel=0.02), kind
        assert image.width <= 500 and image.mode == "RGB", (kind, image.size)
        assert image.getpixel((10, 10)) == pytest.approx((200, 30, 30), abs=3), kind


def test_a_reduced_upload_is_still_turned_upright_and_shown_on_white() -> None:
    stored = Image.new("RGB", (3000, 1000), (0, 0, 200))
    exif = stored.getexif()
    exif[0x0112] = 6  # turned a quarter clockwise to show
    buffer = io.BytesIO()
    stored.save(buffer, "PNG", exif=exif)
    upright = image_query.read_upload(buffer.getvalue(), (224, 224))
    assert upright.height > upright.width and min(upright.size) >= 224
    palette = Image.new("P", (2000, 2000), 0)
    palette.putpalette([0, 0, 0] * 256)
    buffer = io.BytesIO()
    palette.save(buffer, "PNG", transparency=0)
    shown = image_query.read_upload(buffer.getvalue(), (224, 224))
    assert min(shown.size) >= 224 and max(shown.size) < 448
    assert shown.getpixel((5, 5)) == (255, 255, 255)
