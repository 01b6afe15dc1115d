"""Transient image failures get a time to be tried again; permanent ones do not; the sweep queues them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
from django.utils import timezone

from catalog.models import Artwork
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel
from embeddings.pipeline import embed_artworks
from embeddings.sweep import sweep
from museum_site.tests.processes import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_download_retries(settings: Any) -> None:
    settings.IIIF_MAX_RETRIES = 0
    settings.EMBED_RETRY_DELAY_SECONDS = 100
    settings.EMBED_MAX_ATTEMPTS = 3


class Queued:
    """What the sweep queued: it calls ``enqueue(artwork_ids, model)`` as it calls the embed queue."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def __call__(self, artwork_ids: list[int], model: EmbeddingModel) -> int:
        self.ids.extend(artwork_ids)
        return 1


def test_an_outage_records_transient_failures_that_do_not_count(
    harvested: list[Artwork], embedding_model: Any, aic: Any
) -> None:
    ids = [artwork.pk for artwork in harvested]
    aic.inject("503", path_prefix="/iiif/2/", times=1000)
    before = timezone.now()
    result = embed_artworks(ids, embedding_model)
    assert result.embedded == [] and result.transient == set(ids)
    failures = list(EmbeddingFailure.objects.filter(model=embedding_model))
    assert len(failures) == len(ids)
    for failure in failures:
        assert failure.transient and failure.attempts == 0 and failure.tries == 1
        assert failure.retry_at is not None
        assert before + timedelta(seconds=49) <= failure.retry_at <= timezone.now() + timedelta(seconds=151)

    embed_artworks(ids, embedding_model)  # still down: the next wait doubles, the count stays
    failure = EmbeddingFailure.objects.get(model=embedding_model, artwork_id=ids[0])
    assert failure.attempts == 0 and failure.tries == 2
    assert failure.retry_at is not None and failure.retry_at >= timezone.now() + timedelta(seconds=99)


def test_an_undecodable_image_is_permanent(harvested: list[Artwork], embedding_model: Any, aic: Any) -> None:
    broken = harvested[0]
    aic.set_image_bytes(broken.image_id, b"")
    embed_artworks([broken.pk], embedding_model)
    failure = EmbeddingFailure.objects.get(model=embedding_model, artwork=broken)
    assert not failure.transient and failure.retry_at is None and failure.attempts == 1


def test_an_image_failing_while_others_download_counts_until_it_is_given_up(
    harvested: list[Artwork], embedding_model: Any, aic: Any
) -> None:
    flaky, *others = harvested
    for attempt in range(1, 4):
        aic.inject("503", path_prefix=f"/iiif/2/{flaky.image_id}/", times=1)
        # Beside an image not downloaded before: the server answers this task, so the failure is the image's own.
        embed_artworks([flaky.pk, others[attempt].pk], embedding_model)
        failure = EmbeddingFailure.objects.get(model=embedding_model, artwork=flaky)
        assert failure.transient and failure.attempts == attempt and failure.tries == attempt
        assert (failure.retry_at is None) == (attempt == 3)  # EMBED_MAX_ATTEMPTS counted: kept as permanent


def test_the_sweep_queues_failures_that_are_due_and_they_heal(
    harvested: list[Artwork], embedding_model: Any, aic: Any
) -> None:
    ids = [artwork.pk for artwork in harvested]
    aic.inject("503", path_prefix="/iiif/2/", times=1000)
    embed_artworks(ids, embedding_model)
    aic.clear_faults()

    queued = Queued()
    assert sweep(queued).retried == 0 and queued.ids == []  # not due yet
    EmbeddingFailure.objects.filter(artwork_id__in=ids[:3]).update(retry_at=timezone.now() - timedelta(seconds=1))
    result = sweep(queued)
    assert result.retried == 3 and sorted(queued.ids) == ids[:3]
    assert sweep(Queued()).retried == 0  # claimed: the next sweep does not queue them again

    embed_artworks(queued.ids, embedding_model)
    assert not EmbeddingFailure.objects.filter(artwork_id__in=ids[:3]).exists()
    assert ArtworkEmbedding.objects.filter(artwork_id__in=ids[:3], model=embedding_model).count() == 3


def test_the_sweep_queues_lost_pending_artworks_once_the_queue_is_empty(
    harvested: list[Artwork], embedding_model: Any, settings: Any, broker: RedisServer
) -> None:
    settings.EMBED_PENDING_GRACE_SECONDS = 60
    settings.CELERY_BROKER_URL = broker.url()
    queue = redis.Redis.from_url(broker.url())
    ids = [artwork.pk for artwork in harvested]
    embed_artworks(ids[:2], embedding_model)
    queued = Queued()
    assert sweep(queued).lost == 0  # everything is younger than the grace
    Artwork.objects.filter(pk__in=ids).update(updated_at=timezone.now() - timedelta(seconds=120))
    queue.rpush("embed", b"a task waiting")
    assert sweep(queued).lost == 0  # a task in the queue may be theirs
    queue.delete("embed")
    Artwork.objects.filter(pk=ids[-1]).update(withdrawn_at=timezone.now())
    assert sweep(queued).lost == len(ids) - 3
    assert sorted(queued.ids) == ids[2:-1]
