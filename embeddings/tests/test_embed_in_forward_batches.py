"""A task larger than one forward pass is embedded batch by batch, with the vectors one pass gives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from catalog.models import Artwork
from embeddings.models import ArtworkEmbedding, EmbeddingFailure
from embeddings.pipeline import embed_artworks
from embeddings.tests.conftest import harvest_artworks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def harvested(aic: Any) -> list[Artwork]:
    return harvest_artworks(14)


def _vectors(model: Any) -> dict[int, np.ndarray]:
    return {e.artwork_id: np.asarray(e.vector) for e in ArtworkEmbedding.objects.filter(model=model)}


def test_it_embeds_in_forward_batches_what_one_pass_embeds(harvested: list[Artwork], embedding_model: Any) -> None:
    ids = [a.pk for a in harvested]
    embed_artworks(ids, embedding_model, batch_size=len(ids))
    one_pass = _vectors(embedding_model)
    ArtworkEmbedding.objects.all().delete()
    result = embed_artworks(ids, embedding_model, batch_size=4)
    assert sorted(result.embedded) == sorted(ids)
    batched = _vectors(embedding_model)
    assert batched.keys() == one_pass.keys()
    for pk, vector in batched.items():
        np.testing.assert_allclose(vector, one_pass[pk], atol=1e-5)


def test_it_records_a_bad_image_in_a_later_batch_and_stores_every_other(
    aic: Any, harvested: list[Artwork], embedding_model: Any
) -> None:
    bad = harvested[-1]
    aic.set_image_bytes(bad.image_id, b"<html>oops</html>")
    result = embed_artworks([a.pk for a in harvested], embedding_model, batch_size=4)
    assert list(result.failed) == [bad.pk]
    assert ArtworkEmbedding.objects.filter(model=embedding_model).count() == len(harvested) - 1
    assert "not an image" in EmbeddingFailure.objects.get(artwork=bad, model=embedding_model).reason
