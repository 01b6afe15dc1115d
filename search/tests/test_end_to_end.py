"""Harvest from the fake AIC server -> Celery worker embeds -> /api/search finds the artwork."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.test import Client

from catalog.models import Artwork, SyncRun
from catalog.tasks import sync_aic_task
from conftest import wait_until
from embeddings.encoders.per_process import get_text_encoder
from embeddings.indexing import index_counts
from embeddings.models import ArtworkEmbedding

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_harvest_is_embedded_by_a_worker_and_found_by_search(
    client: Client, celery_worker: Any, sample_aic: Any, embedding_model: Any, settings: Any
) -> None:
    settings.AIC_IIIF_URL = sample_aic.iiif_url
    sync_aic_task.delay()
    wait_until(lambda: SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).exists(), timeout=60)
    with_image = Artwork.objects.exclude(image_id="").count()
    assert Artwork.objects.count() == len(sample_aic.records)
    wait_until(lambda: index_counts(embedding_model).embedded == with_image, timeout=180)
    counts = index_counts(embedding_model)
    assert (counts.failed, counts.pending) == (0, 0)
    assert counts.no_image == Artwork.objects.filter(image_id="").count()

    query = "a bedroom with yellow chairs"
    body = client.get("/api/search", {"q": query, "mode": "semantic", "page_size": 10}).json()
    # The expected artwork: the exact nearest neighbour of the query among the worker's vectors.
    query_vector = get_text_encoder(embedding_model).encode([query])[0]
    rows = list(ArtworkEmbedding.objects.filter(model=embedding_model).select_related("artwork"))
    best = max(rows, key=lambda row: float(np.dot(np.asarray(row.vector), query_vector)))
    assert body["results"][0]["id"] == best.artwork.aic_id
    assert len(body["results"]) == 10
