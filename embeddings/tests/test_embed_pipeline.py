from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from catalog.models import Artwork
from embeddings.images.iiif_cache import ImageCache
from embeddings.indexing import index_counts
from embeddings.models import ArtworkEmbedding, EmbeddingFailure
from embeddings.pipeline import embed_artworks

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_embeds_a_batch_as_unit_vectors(harvested: list[Artwork], embedding_model: Any) -> None:
    result = embed_artworks([a.pk for a in harvested], embedding_model)
    assert sorted(result.embedded) == sorted(a.pk for a in harvested)
    vectors = np.array([np.asarray(e.vector) for e in ArtworkEmbedding.objects.filter(model=embedding_model)])
    assert vectors.shape == (len(harvested), embedding_model.dimension)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_it_is_idempotent_and_never_downloads_an_image_twice(
    aic: Any, harvested: list[Artwork], embedding_model: Any
) -> None:
    ids = [a.pk for a in harvested]
    cache = ImageCache.from_settings()
    embed_artworks(ids, embedding_model, cache=cache)
    first = {e.artwork_id: np.asarray(e.vector) for e in ArtworkEmbedding.objects.all()}
    image_requests = aic.count("/iiif/2/")
    embed_artworks(ids, embedding_model, cache=cache)
    assert ArtworkEmbedding.objects.count() == len(ids)
    assert aic.count("/iiif/2/") == image_requests
    for embedding in ArtworkEmbedding.objects.all():
        np.testing.assert_allclose(np.asarray(embedding.vector), first[embedding.artwork_id], atol=1e-5)


def _missing_at_aic(aic: Any, artwork: Artwork) -> None:
    Artwork.objects.filter(pk=artwork.pk).update(image_id="0000ffff-not-at-aic")


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda aic, artwork: aic.set_image_bytes(artwork.image_id, b"<html>oops</html>"), "not an image"),
        (lambda aic, artwork: aic.set_image_bytes(artwork.image_id, b""), "empty"),
        (
            lambda aic, artwork: aic.inject("corrupt_image", path_prefix=f"/iiif/2/{artwork.image_id}"),
            "cannot be decoded",
        ),
        (_missing_at_aic, "HTTP 404"),
    ],
    ids=["html", "empty", "truncated", "404"],
)
def test_it_marks_a_bad_image_failed_and_lands_the_rest(
    aic: Any, harvested: list[Artwork], embedding_model: Any, setup: Any, reason: str
) -> None:
    bad = harvested[0]
    setup(aic, bad)
    result = embed_artworks([a.pk for a in harvested], embedding_model)
    assert reason in result.failed[bad.pk]
    assert len(result.embedded) == len(harvested) - 1
    failure = EmbeddingFailure.objects.get(artwork=bad, model=embedding_model)
    assert reason in failure.reason
    counts = index_counts(embedding_model)
    assert (counts.embedded, counts.failed) == (len(harvested) - 1, 1)
