"""A small catalog built for the curation tests: titles and descriptions chosen for synonyms and pins,
each artwork with a seeded vector under the active model."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.test import Client

from catalog.models import Artwork
from embeddings.models import ArtworkEmbedding, EmbeddingModel

ARTWORKS: dict[str, dict[str, Any]] = {
    "storm": {"aic_id": 101, "title": "Storm at sea", "department_title": "Paintings"},
    "waves": {
        "aic_id": 102,
        "title": "Evening",
        "description": "Waves of the ocean under a pale moon.",
        "department_title": "Paintings",
    },
    "merchant": {"aic_id": 103, "title": "Portrait of a merchant", "department_title": "Prints"},
    "haystacks": {
        "aic_id": 104,
        "title": "Haystacks",
        "artist_display": "Claude Monet\nFrench, 1840-1926",
        "department_title": "Paintings",
    },
    "apart": {"aic_id": 105, "title": "Claude Lorrain beside a copy after Monet", "department_title": "Prints"},
    "harbour": {"aic_id": 106, "title": "A quiet harbour", "department_title": "Paintings"},
}


def build_catalog(model: EmbeddingModel) -> dict[str, Artwork]:
    """The ARTWORKS, each with a seeded unit vector under ``model``."""
    rng = np.random.default_rng(7)
    built = {}
    for name, fields in ARTWORKS.items():
        artwork = Artwork.objects.create(content_hash="x", image_id=f"img{fields['aic_id']}", **fields)
        vector = rng.standard_normal(model.dimension).astype(np.float32)
        ArtworkEmbedding.objects.create(
            artwork=artwork, model=model, image_id=artwork.image_id, vector=vector / np.linalg.norm(vector)
        )
        built[name] = artwork
    return built


def results(client: Client, **params: Any) -> list[dict[str, Any]]:
    """The hits of /api/search for ``params`` (every artwork fits one page)."""
    response = client.get("/api/search", {"page_size": 100, **params})
    assert response.status_code == 200, response.content
    hits: list[dict[str, Any]] = response.json()["results"]
    return hits


def ids(client: Client, **params: Any) -> list[int]:
    return [hit["id"] for hit in results(client, **params)]
