"""Redis (broker, and the shared image rate limit) dies and comes back during a harvest and during
embedding: the runs complete and every artwork ends embedded.

Redis here persists every write, like production's (``appendonly yes``): a broker that forgets its
queues on restart loses tasks whatever the workers do."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis

from catalog.harvest import sync_from_api
from catalog.models import Artwork, SyncRun
from conftest import TEST_MODEL_ARCH
from embeddings.encoders.registry import register_model
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel
from museum_site.tests.processes import RedisServer, Worker, wait_for, worker_env

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

BATCH_SIZE = 4
OUTAGE_SECONDS = 3.0
HARVEST_LIMIT = 100


def _worker(broker: RedisServer, aic: Any, database_url: str, folder: Path, queues: str) -> Worker:
    env = worker_env(
        DATABASE_URL=database_url,
        REDIS_URL=broker.url(),
        CELERY_BROKER_URL=broker.url(),
        AIC_API_URL=aic.api_url,
        AIC_IIIF_URL=aic.iiif_url,
        AIC_PAGE_SIZE="20",
        IMAGE_CACHE_DIR=str(folder / "worker_images"),
        EMBED_BATCH_SIZE=str(BATCH_SIZE),
        # One image at a time, each through the shared rate limit in Redis, as a large batch
        # spends most of its time in production: the outage lands between two of them.
        IIIF_FETCH_CONCURRENCY="1",
        CELERY_TASK_SOFT_TIME_LIMIT="20",
        CELERY_TASK_TIME_LIMIT="25",
        CELERY_VISIBILITY_TIMEOUT="30",
        CELERY_UNACKED_RESTORE_INTERVAL="1",
    )
    return Worker(env, queues, folder / "worker.log")


def _restart(broker: RedisServer) -> None:
    broker.kill()
    time.sleep(OUTAGE_SECONDS)
    broker.start()


def _model(clip_checkpoint: str) -> EmbeddingModel:
    model = register_model("micro", TEST_MODEL_ARCH, clip_checkpoint)
    model.activate()
    return model


def _embedded(model: EmbeddingModel) -> set[int]:
    return set(ArtworkEmbedding.objects.filter(model=model).values_list("artwork_id", flat=True))


def _assert_broker_drained(broker: RedisServer) -> None:
    client = redis.Redis.from_url(broker.url())
    wait_for(lambda: client.llen("embed") + client.llen("sync") + client.hlen("unacked") == 0, 45, "an empty broker")


def test_it_finishes_embedding_when_the_broker_restarts_mid_batch(
    aic: Any, broker: RedisServer, test_database_url: str, clip_checkpoint: str, tmp_path: Path
) -> None:
    sync_from_api(limit=32)  # before any model is active, so the harvest queues nothing
    ids = sorted(Artwork.objects.exclude(image_id="").values_list("pk", flat=True))
    model = _model(clip_checkpoint)
    aic.latency_s = 0.25
    worker = _worker(broker, aic, test_database_url, tmp_path, "embed")
    for start in range(0, len(ids), BATCH_SIZE):
        worker.client.send_task("embeddings.tasks.embed_artworks_task", [ids[start : start + BATCH_SIZE], model.pk])
    worker.start()
    try:
        wait_for(lambda: len(_embedded(model)) >= BATCH_SIZE, 60, "a first batch")
        requests_before = aic.count("/iiif/2/")
        wait_for(lambda: aic.count("/iiif/2/") > requests_before, 30, "a batch fetching images")
        _restart(broker)

        wait_for(lambda: _embedded(model) == set(ids), 120, "every artwork embedded")
        assert not EmbeddingFailure.objects.exists(), list(EmbeddingFailure.objects.values_list("reason", flat=True))
        assert ArtworkEmbedding.objects.count() == len(ids)
        assert worker.alive
        _assert_broker_drained(broker)
    finally:
        worker.stop()


def test_it_finishes_a_harvest_and_its_embedding_when_the_broker_restarts(
    aic: Any, broker: RedisServer, test_database_url: str, clip_checkpoint: str, tmp_path: Path
) -> None:
    model = _model(clip_checkpoint)
    aic.latency_s = 0.5  # 5 pages of 20 records: a harvest of a few seconds
    worker = _worker(broker, aic, test_database_url, tmp_path, "sync,embed")
    worker.start()
    try:
        worker.client.send_task("catalog.tasks.sync_aic_task", kwargs={"limit": HARVEST_LIMIT})
        wait_for(lambda: SyncRun.objects.filter(status=SyncRun.Status.RUNNING, seen__gt=0).exists(), 60, "a harvest")
        _restart(broker)

        wait_for(lambda: SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).exists(), 120, "a finished harvest")
        aic.latency_s = 0.02
        assert Artwork.objects.count() == HARVEST_LIMIT
        with_image = set(Artwork.objects.exclude(image_id="").values_list("pk", flat=True))
        wait_for(lambda: _embedded(model) == with_image, 120, "every harvested artwork embedded")
        statuses = set(SyncRun.objects.values_list("status", flat=True))
        # A redelivered copy of the harvest task finds the lock taken or nothing new; it never fails.
        assert statuses <= {SyncRun.Status.SUCCEEDED, SyncRun.Status.SKIPPED}, statuses
        assert not EmbeddingFailure.objects.exists(), list(EmbeddingFailure.objects.values_list("reason", flat=True))
        assert worker.alive
        _assert_broker_drained(broker)
    finally:
        worker.stop()
