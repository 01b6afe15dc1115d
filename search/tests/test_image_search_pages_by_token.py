"""An image search is paged and refined by a short-lived token that keeps its vector, never the image."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from catalog.models import Artwork
from conftest import SAMPLE_DIR
from embeddings.models import EmbeddingModel
from search.image_query import embed_upload
from search.image_tokens import token_key

pytestmark = pytest.mark.django_db(transaction=True)


def _sample(artwork: Artwork) -> bytes:
    return (SAMPLE_DIR / "images" / f"{artwork.image_id}.jpg").read_bytes()


def _upload(data: bytes) -> dict[str, SimpleUploadedFile]:
    return {"image": SimpleUploadedFile("photo.jpg", data, content_type="image/jpeg")}


def _ids(body: dict[str, Any]) -> list[int]:
    return [hit["id"] for hit in body["results"]]


def _path(url: str) -> str:
    """An absolute ``next`` link as the test client takes it."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_pages_by_the_token_are_the_long_search_cut_in_order(
    client: Client, indexed: list[Artwork], redis_client: Any
) -> None:
    data = _sample(indexed[3])
    whole = client.post("/api/search/image?page_size=30", _upload(data)).json()
    assert len(_ids(whole)) == len(indexed)

    first = client.post("/api/search/image?page_size=7", _upload(data))
    assert first.status_code == 200, first.content
    body = first.json()
    token = body["token"]
    assert token and body["token_expires_in"] == 1800
    pages = [_ids(body)]
    next_url = body["next"]
    while next_url:
        query = parse_qs(urlsplit(next_url).query)
        assert query["token"] == [token] and query["page"] == [str(len(pages) + 1)]
        response = client.get(_path(next_url))  # a GET: no image is sent again
        assert response.status_code == 200, response.content
        pages.append(_ids(response.json()))
        next_url = response.json()["next"]
    assert len(pages) == -(-len(indexed) // 7) and all(len(page) == 7 for page in pages[:-1])
    assert [aic_id for page in pages for aic_id in page] == _ids(whole)


def test_the_key_holds_the_vector_and_its_model_and_never_the_image(
    client: Client, indexed: list[Artwork], embedding_model: EmbeddingModel, redis_client: Any
) -> None:
    data = _sample(indexed[5])
    body = client.post("/api/search/image", _upload(data)).json()
    key = token_key(body["token"])
    stored = redis_client.hgetall(key)
    assert set(stored) == {b"vector", b"model", b"weights"}
    assert stored[b"model"] == str(embedding_model.pk).encode()
    expected = embed_upload(embedding_model, data)
    assert np.allclose(np.frombuffer(stored[b"vector"], dtype=np.float32), expected, atol=1e-6)
    assert 0 < redis_client.ttl(key) <= 1800
    # Not the upload, nor any piece of it, anywhere in Redis.
    head = data[:64]
    for name in redis_client.scan_iter():
        kind = redis_client.type(name)
        values = redis_client.hvals(name) if kind == b"hash" else [redis_client.get(name)] if kind == b"string" else []
        assert all(head not in (value or b"") for value in values), name


def test_an_expired_token_is_refused_clearly(
    client: Client, indexed: list[Artwork], settings: Any, redis_client: Any
) -> None:
    settings.IMAGE_SEARCH_TOKEN_SECONDS = 1
    body = client.post("/api/search/image?page_size=5", _upload(_sample(indexed[2]))).json()
    assert body["token_expires_in"] == 1
    time.sleep(2.1)
    response = client.get(_path(body["next"]))
    assert response.status_code == 410
    assert "expired" in response.json()["error"] and "upload the image again" in response.json()["error"]
    # The site goes on: a new upload answers.
    assert client.post("/api/search/image", _upload(_sample(indexed[2]))).status_code == 200


def test_a_token_from_another_model_is_refused_after_a_switch(
    client: Client, indexed: list[Artwork], embedding_model: EmbeddingModel, redis_client: Any
) -> None:
    token = client.post("/api/search/image", _upload(_sample(indexed[4]))).json()["token"]
    assert client.get("/api/search/image", {"token": token, "page": 2}).status_code == 200
    other = EmbeddingModel.objects.create(
        name="micro-other",
        architecture=embedding_model.architecture,
        pretrained=embedding_model.pretrained + ".other",
        dimension=embedding_model.dimension,
    )
    other.activate()
    response = client.get("/api/search/image", {"token": token, "page": 2})
    assert response.status_code == 410
    error = response.json()["error"]
    assert "another model" in error and "micro-other" in error and "upload the image again" in error


def test_filters_narrow_a_search_by_its_token(client: Client, indexed: list[Artwork], redis_client: Any) -> None:
    token = client.post("/api/search/image?page_size=30", _upload(_sample(indexed[3]))).json()["token"]
    everything = _ids(client.get("/api/search/image", {"token": token, "page_size": 30}).json())
    narrowed = client.get("/api/search/image", {"token": token, "page_size": 30, "is_public_domain": "false"}).json()
    public = set(Artwork.objects.filter(is_public_domain=True).values_list("aic_id", flat=True))
    assert public & set(everything), "the sample must have public-domain artworks for this test to mean anything"
    assert narrowed["filters"] == {"is_public_domain": False}
    assert _ids(narrowed) == [aic_id for aic_id in everything if aic_id not in public]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({}, 400, "token is required"),
        ({"token": "not-a-token"}, 400, "not an image search token"),
        ({"token": "A" * 24}, 410, "expired"),
        ({"token": "A" * 24, "text_weight": "2"}, 400, "text_weight must be from 0.0 to 1.0"),
    ],
)
def test_a_bad_token_is_a_clear_error(
    client: Client, indexed: list[Artwork], redis_client: Any, params: dict[str, str], status: int, message: str
) -> None:
    response = client.get("/api/search/image", params)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_an_image_and_a_token_together_are_refused(client: Client, indexed: list[Artwork], redis_client: Any) -> None:
    token = client.post("/api/search/image", _upload(_sample(indexed[1]))).json()["token"]
    response = client.post(f"/api/search/image?token={token}", _upload(_sample(indexed[1])))
    assert response.status_code == 400
    assert "not both" in response.json()["error"]


def test_the_page_pages_an_upload_by_links_with_the_token(
    client: Client, indexed: list[Artwork], redis_client: Any
) -> None:
    data = _sample(indexed[3])
    whole = _ids(client.post("/api/search/image?page_size=30", _upload(data)).json())
    response = client.post("/search/image", {**_upload(data), "page_size": "10"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="card"') == 10
    next_link = html.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    assert next_link.startswith("/search/image?") and "token=" in next_link and "page=2" in next_link
    second = client.get(next_link)
    assert second.status_code == 200
    cards = second.content.decode().split('class="card"')[1:]
    assert [int(card.split('href="/artworks/')[1].split('"')[0]) for card in cards] == whole[10:20]
    assert "Artworks that look like your image, 11\u201320" in second.content.decode()
    token = next_link.split("token=")[1].split("&")[0]
    narrowed = client.get("/search/image", {"token": token, "is_public_domain": "true", "page_size": "30"})
    public = set(Artwork.objects.filter(is_public_domain=True).values_list("aic_id", flat=True))
    cards = narrowed.content.decode().split('class="card"')[1:]
    shown = [int(card.split('href="/artworks/')[1].split('"')[0]) for card in cards]
    assert shown == [aic_id for aic_id in whole if aic_id in public]
    assert 'name="is_public_domain" type="checkbox" value="true" checked' in narrowed.content.decode()


def test_the_page_says_to_upload_again_for_an_expired_token(
    client: Client, indexed: list[Artwork], redis_client: Any
) -> None:
    response = client.get("/search/image", {"token": "B" * 24, "page": "2"})
    assert response.status_code == 410
    assert "upload the image again" in response.content.decode()
    assert 'name="image"' in response.content.decode()  # the whole page, to upload again
