"""With the search caches' Redis away, an upload still answers its first page (without a token to page
it), and a search by token answers 503, asking to come back, rather than failing."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from catalog.models import Artwork
from conftest import SAMPLE_DIR

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_upload_answers_one_page_and_a_token_waits_for_redis(
    client: Client, indexed: list[Artwork], settings: Any
) -> None:
    data = (SAMPLE_DIR / "images" / f"{indexed[3].image_id}.jpg").read_bytes()
    settings.SEARCH_QUERY_CACHE_URL = "redis://127.0.0.1:1/0"
    upload = {"image": SimpleUploadedFile("photo.jpg", data, content_type="image/jpeg")}
    response = client.post("/api/search/image?page_size=5&q=in+winter", upload)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["results"][0]["id"] and len(body["results"]) == 5
    assert body["token"] is None and body["token_expires_in"] is None and body["next"] is None

    by_token = client.get("/api/search/image", {"token": "C" * 24})
    assert by_token.status_code == 503
    assert by_token["Retry-After"] and by_token.json() == {"error": "temporarily unavailable"}
    page = client.get("/search/image", {"token": "C" * 24})
    assert page.status_code == 503 and page["Retry-After"]
