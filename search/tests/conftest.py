from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from catalog.harvest import import_dump, sync_from_api
from catalog.models import Artwork
from conftest import SAMPLE_DIR
from embeddings.models import ArtworkEmbedding, EmbeddingModel
from embeddings.pipeline import embed_artworks


@pytest.fixture
def indexed(aic: Any, embedding_model: Any) -> list[Artwork]:
    """Thirty harvested artworks embedded under the active model (in this process)."""
    sync_from_api(limit=30)
    artworks = list(Artwork.objects.exclude(image_id="").order_by("pk"))
    result = embed_artworks([a.pk for a in artworks], embedding_model)
    assert len(result.embedded) == len(artworks)
    return artworks


@pytest.fixture(scope="session")
def shared_image_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One image cache for every test that loads the whole sample, so each image is fetched once."""
    return tmp_path_factory.mktemp("collection_images")


# Image vectors of the sample under the session's test model, by image id: the pipeline embeds the
# collection once per session, later tests store the same vectors again (as a re-run would write them).
_SAMPLE_VECTORS: dict[tuple[str, str], Any] = {}


@pytest.fixture
def collection(aic: Any, embedding_model: Any, settings: Any, shared_image_cache: Path) -> list[Artwork]:
    """The whole sample collection (315 records), every image embedded under the active model."""
    settings.IMAGE_CACHE_DIR = shared_image_cache
    # Load the catalog while no model is active, so nothing is queued for a Celery worker (one may be
    # running for other tests) that would write vectors while a test sets them.
    EmbeddingModel.objects.filter(pk=embedding_model.pk).update(is_active=False)
    import_dump(SAMPLE_DIR / "records")
    embedding_model.activate()
    artworks = list(Artwork.objects.order_by("pk"))
    with_image = [a for a in artworks if a.image_id]
    known = [a for a in with_image if (embedding_model.pretrained, a.image_id) in _SAMPLE_VECTORS]
    if len(known) < len(with_image):
        result = embed_artworks([a.pk for a in with_image], embedding_model)
        assert len(result.embedded) == len(with_image), result.failed
        for row in ArtworkEmbedding.objects.filter(model=embedding_model):
            _SAMPLE_VECTORS[(embedding_model.pretrained, row.image_id)] = row.vector
    else:
        ArtworkEmbedding.objects.bulk_create(
            ArtworkEmbedding(
                artwork=a,
                model=embedding_model,
                image_id=a.image_id,
                vector=_SAMPLE_VECTORS[(embedding_model.pretrained, a.image_id)],
            )
            for a in with_image
        )
    return artworks
