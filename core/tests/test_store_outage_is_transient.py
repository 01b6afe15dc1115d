"""A store that cannot be reached is a failure that passes: it names the key and the store, tasks retry
it (core.retry), and an embedding run records no artwork as failed because of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from catalog.harvest import sync_from_api
from catalog.models import Artwork
from core.artifacts import StoreUnavailable, artifact_store
from core.retry import TRANSIENT_ERRORS
from core.tests.seaweedfs import free_port
from embeddings.encoders.clip import local_weights
from embeddings.images.iiif_cache import ImageCache
from embeddings.models import EmbeddingFailure, EmbeddingModel
from embeddings.pipeline import embed_artworks

IIIF = "/iiif/2/"


@pytest.fixture
def unreachable_store(settings: Any) -> Any:
    """The site's store on an S3 endpoint where nothing listens."""
    settings.ARTIFACT_STORE_URL = "s3://artifacts/site"
    settings.ARTIFACT_STORE_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    settings.ARTIFACT_STORE_ACCESS_KEY_ID = "key"
    settings.ARTIFACT_STORE_SECRET_ACCESS_KEY = "secret"
    settings.ARTIFACT_STORE_TIMEOUT_SECONDS = 1.0
    settings.ARTIFACT_STORE_SHARED_CACHES = True
    settings.IIIF_REQUESTS_PER_SECOND = 100.0
    return artifact_store()


def test_an_image_miss_during_an_outage_names_the_key_and_the_store(
    aic: Any, unreachable_store: Any, tmp_path: Path
) -> None:
    cache = ImageCache.from_settings()
    image_id = "0a1b2c3d-0000-0000-0000-000000000000"

    with pytest.raises(StoreUnavailable) as raised:
        cache.fetch(image_id)

    message = str(raised.value)
    assert f"images/{image_id}/{cache.width}.jpg" in message
    assert "s3://artifacts/site" in message and unreachable_store.location in message
    assert isinstance(raised.value, TRANSIENT_ERRORS)
    assert aic.count(IIIF) == 0  # the fleet's one IIIF budget is not spent behind the store's back


@pytest.mark.django_db
def test_an_embedding_run_during_an_outage_fails_transiently_and_records_no_failure(
    aic: Any, embedding_model: EmbeddingModel, unreachable_store: Any
) -> None:
    sync_from_api(limit=4)
    artworks = list(Artwork.objects.exclude(image_id="").values_list("pk", flat=True))
    assert artworks

    with pytest.raises(TRANSIENT_ERRORS) as raised:
        embed_artworks(artworks, embedding_model)

    assert isinstance(raised.value, StoreUnavailable)
    assert not EmbeddingFailure.objects.exists()  # nothing is kept as the images' own fault


def test_a_stored_checkpoint_during_an_outage_is_transient_not_a_bad_model(
    unreachable_store: Any, settings: Any, tmp_path: Path
) -> None:
    settings.MODEL_CACHE_DIR = tmp_path / "models"
    reference = "artifact:checkpoints/" + "2" * 64 + ".pt"

    with pytest.raises(StoreUnavailable, match=f"checkpoints/{'2' * 64}.pt"):
        local_weights(reference)
