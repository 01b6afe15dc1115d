"""An embedding batch commits each forward batch as it is done, and hands on what its deadline left."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from catalog.models import Artwork
from embeddings.models import ArtworkEmbedding
from embeddings.pipeline import embed_artworks

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_passed_deadline_leaves_the_rest_for_the_next_task(harvested: list[Artwork], embedding_model: Any) -> None:
    ids = [artwork.pk for artwork in harvested]
    result = embed_artworks(ids, embedding_model, batch_size=4, deadline=time.monotonic())
    assert result.embedded == ids[:4]  # the first forward batch always runs
    assert result.remaining == ids[4:]
    assert set(ArtworkEmbedding.objects.values_list("artwork_id", flat=True)) == set(ids[:4])

    rest = embed_artworks(ids, embedding_model, batch_size=4, only_missing=True)
    assert rest.embedded == ids[4:] and sorted(rest.skipped) == ids[:4]
    assert ArtworkEmbedding.objects.count() == len(ids)


def test_each_forward_batch_is_visible_to_others_before_the_batch_ends(
    harvested: list[Artwork], embedding_model: Any, aic: Any, test_database_url: str
) -> None:
    """Another connection sees the first forward batch's vectors while later images still download."""
    ids = [artwork.pk for artwork in harvested]
    seen_while_running: list[int] = []

    def count_from_another_connection() -> int:
        with psycopg.connect(test_database_url) as other:
            row = other.execute(
                "SELECT count(*) FROM embeddings_artworkembedding WHERE model_id = %s", [embedding_model.pk]
            ).fetchone()
            return int(row[0]) if row else 0

    aic.latency_s = 0.3  # each image takes a while, so the batch is long
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen_while_running.append(count_from_another_connection())
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = embed_artworks(ids, embedding_model, batch_size=2)
    finally:
        done.set()
        watcher.join()
    assert len(result.embedded) == len(ids)
    assert any(0 < seen < len(ids) for seen in seen_while_running)
