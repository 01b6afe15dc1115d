from __future__ import annotations

from typing import Any

import pytest

from catalog.harvest import sync_from_api
from catalog.models import Artwork
from embeddings.pipeline import embed_artworks


@pytest.fixture
def indexed(aic: Any, embedding_model: Any) -> list[Artwork]:
    """Thirty harvested artworks embedded under the active model (in this process)."""
    sync_from_api(limit=30)
    artworks = list(Artwork.objects.exclude(image_id="").order_by("pk"))
    result = embed_artworks([a.pk for a in artworks], embedding_model)
    assert len(result.embedded) == len(artworks)
    return artworks
