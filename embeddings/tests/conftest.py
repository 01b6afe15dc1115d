from __future__ import annotations

from typing import Any

import pytest

from catalog.harvest import sync_from_api
from catalog.models import Artwork
from embeddings.pipeline import embed_artworks


def harvest_artworks(limit: int) -> list[Artwork]:
    """Harvest ``limit`` records from the fake AIC; the artworks with an image, in primary-key order."""
    sync_from_api(limit=limit)
    return list(Artwork.objects.exclude(image_id="").order_by("pk"))


@pytest.fixture
def harvested(aic: Any) -> list[Artwork]:
    return harvest_artworks(12)


@pytest.fixture
def indexed(harvested: list[Artwork], embedding_model: Any) -> list[Artwork]:
    """The harvested artworks with an image, each embedded under ``embedding_model``."""
    artworks = [artwork for artwork in harvested if artwork.image_id]
    assert len(embed_artworks([artwork.pk for artwork in artworks], embedding_model).embedded) == len(artworks)
    return artworks
