"""An image searched with words ("in winter") ranks by the weighted sum of both normalised vectors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from catalog.models import Artwork
from conftest import SAMPLE_DIR
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from search.image_query import embed_upload
from search.query_cache import embed_query

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = "a snowy landscape in winter"


def _upload(data: bytes) -> dict[str, SimpleUploadedFile]:
    return {"image": SimpleUploadedFile("photo.jpg", data, content_type="image/jpeg")}


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    return vector / np.linalg.norm(vector)


def _exact(model: EmbeddingModel, query: np.ndarray) -> list[tuple[int, float]]:
    """Every artwork by cosine similarity to ``query``, computed here row by row."""
    rows = ArtworkEmbedding.objects.filter(model=model).select_related("artwork")
    scored = [(row.artwork.aic_id, float(np.dot(_unit(row.vector), _unit(query)))) for row in rows]
    return sorted(scored, key=lambda pair: -pair[1])


def _ranked(body: dict[str, Any]) -> list[int]:
    return [hit["id"] for hit in body["results"]]


@pytest.mark.parametrize("weight", [None, 0.3])
def test_words_and_image_rank_by_their_weighted_sum(
    client: Client, indexed: list[Artwork], embedding_model: EmbeddingModel, settings: Any, weight: float | None
) -> None:
    data = (SAMPLE_DIR / "images" / f"{indexed[6].image_id}.jpg").read_bytes()
    params = f"page_size=30&q={WORDS.replace(' ', '+')}" + ("" if weight is None else f"&text_weight={weight}")
    response = client.post(f"/api/search/image?{params}", _upload(data))
    assert response.status_code == 200, response.content
    combined = response.json()
    share = settings.IMAGE_SEARCH_TEXT_WEIGHT if weight is None else weight
    assert combined["query"] == WORDS and combined["text_weight"] == share

    image = _unit(embed_upload(embedding_model, data))
    words = _unit(embed_query(embedding_model, WORDS))
    expected = _exact(embedding_model, (1 - share) * image + share * words)
    assert _ranked(combined) == [aic_id for aic_id, _ in expected]
    assert [hit["score"] for hit in combined["results"]] == pytest.approx([score for _, score in expected], abs=1e-4)

    image_only = client.post("/api/search/image?page_size=30", _upload(data)).json()
    words_only = client.get("/api/search", {"q": WORDS, "mode": "semantic", "page_size": 30}).json()
    assert _ranked(image_only) == [aic_id for aic_id, _ in _exact(embedding_model, image)]
    assert _ranked(combined) != _ranked(image_only)
    assert _ranked(combined) != _ranked(words_only)


def test_the_words_page_along_with_the_token(client: Client, indexed: list[Artwork], redis_client: Any) -> None:
    data = (SAMPLE_DIR / "images" / f"{indexed[6].image_id}.jpg").read_bytes()
    whole = client.post("/api/search/image?page_size=30&q=in+winter", _upload(data)).json()
    first = client.post("/api/search/image?page_size=10&q=in+winter", _upload(data)).json()
    assert "q=in+winter" in first["next"] and "token=" in first["next"]
    second = client.get("/api/search/image", {"token": first["token"], "q": "in winter", "page_size": 10, "page": 2})
    assert _ranked(first) + _ranked(second.json()) == _ranked(whole)[:20]
    # The same token without words is the image alone again.
    alone = client.get("/api/search/image", {"token": first["token"], "page_size": 30}).json()
    assert alone["query"] is None and alone["text_weight"] is None
    assert _ranked(alone) == _ranked(client.post("/api/search/image?page_size=30", _upload(data)).json())


def test_words_without_an_image_are_refused(client: Client, indexed: list[Artwork]) -> None:
    response = client.post("/api/search/image?q=in+winter")
    assert response.status_code == 400
    assert "send the image" in response.json()["error"]
