"""Search by an uploaded image: visually similar artworks, with limits, and nothing kept."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from catalog.models import Artwork
from conftest import SAMPLE_DIR
from embeddings.models import ArtworkEmbedding

pytestmark = pytest.mark.django_db(transaction=True)


def _upload(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def _image_bytes(size: tuple[int, int], kind: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 80, 40)).save(buffer, kind)
    return buffer.getvalue()


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def test_an_uploaded_picture_of_an_artwork_finds_that_artwork_first(
    client: Client, indexed: list[Artwork], settings: Any
) -> None:
    artwork = indexed[3]
    data = (SAMPLE_DIR / "images" / f"{artwork.image_id}.jpg").read_bytes()
    cached_before = _files(Path(settings.IMAGE_CACHE_DIR))
    rows_before = ArtworkEmbedding.objects.count()
    response = client.post("/api/search/image?k=5", {"image": _upload(data)})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["results"][0]["id"] == artwork.aic_id
    assert len(body["results"]) == 5 and body["id"] is None
    # The upload is compared and dropped: no file in the image cache, no vector stored.
    assert _files(Path(settings.IMAGE_CACHE_DIR)) == cached_before
    assert ArtworkEmbedding.objects.count() == rows_before


def test_image_search_takes_the_same_filters(client: Client, indexed: list[Artwork]) -> None:
    data = (SAMPLE_DIR / "images" / f"{indexed[3].image_id}.jpg").read_bytes()
    body = client.post("/api/search/image?is_public_domain=false&k=50", {"image": _upload(data)}).json()
    public = set(Artwork.objects.filter(is_public_domain=True).values_list("aic_id", flat=True))
    assert not public & {hit["id"] for hit in body["results"]}


@pytest.mark.parametrize(
    ("data", "name", "limits", "message"),
    [
        (_image_bytes((64, 64), "BMP"), "picture.bmp", {}, "image type BMP is not accepted"),
        (b"%PDF-1.4 not a picture", "file.pdf", {}, "image type unknown is not accepted"),
        (b"", "empty.jpg", {}, "image is empty"),
        (_image_bytes((600, 400), "PNG"), "big.png", {"IMAGE_MAX_PIXELS": 100_000}, "600x400 pixels (limit 100000)"),
        (_image_bytes((600, 400), "JPEG") + b"\0" * 4096, "heavy.jpg", {"IMAGE_MAX_BYTES": 4096}, "over 4096 bytes"),
        (b"\xff" * 200_000, "huge.jpg", {"IMAGE_MAX_BYTES": 4096}, "over 4096 bytes"),
    ],
)
def test_it_refuses_what_it_must_not_decode(
    client: Client,
    indexed: list[Artwork],
    settings: Any,
    data: bytes,
    name: str,
    limits: dict[str, int],
    message: str,
) -> None:
    for setting, value in limits.items():
        setattr(settings, setting, value)
    response = client.post("/api/search/image", {"image": _upload(data, name)})
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_the_search_page_takes_an_upload_too(client: Client, indexed: list[Artwork]) -> None:
    data = (SAMPLE_DIR / "images" / f"{indexed[3].image_id}.jpg").read_bytes()
    response = client.post("/search/image", {"image": _upload(data)})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Artworks that look like your image" in html
    assert html.count('class="card"') == 24
    assert f'href="/artworks/{indexed[3].aic_id}"' in html.split('class="card"')[1]
