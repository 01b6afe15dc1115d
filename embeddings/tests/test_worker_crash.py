"""SIGKILL an embedding worker in the middle of a batch, again and again: nothing is lost, nothing doubled.

Killing the pool process (as the OOM killer does) hands the task back at once (``acks_late`` +
``reject_on_worker_lost``). Killing the whole worker leaves the task unacknowledged in Redis; another
worker takes it again once the visibility timeout has passed. The test worker runs with a 30 s
visibility timeout (and a 25 s task time limit, which settings require to be shorter)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from catalog.harvest import sync_from_api
from catalog.models import Artwork
from conftest import TEST_MODEL_ARCH
from embeddings.encoders.registry import register_model
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel
from museum_site.tests.processes import RedisServer, Worker, wait_for, worker_env

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

BATCH_SIZE = 4
VISIBILITY_TIMEOUT = 30


@pytest.fixture
def worker(broker: RedisServer, aic: Any, test_database_url: str, tmp_path: Path) -> Iterator[Worker]:
    env = worker_env(
        DATABASE_URL=test_database_url,
        REDIS_URL=broker.url(),
        CELERY_BROKER_URL=broker.url(),
        AIC_API_URL=aic.api_url,
        AIC_IIIF_URL=aic.iiif_url,
        IMAGE_CACHE_DIR=str(tmp_path / "worker_images"),
        IIIF_FETCH_CONCURRENCY="2",
        CELERY_TASK_SOFT_TIME_LIMIT="20",
        CELERY_TASK_TIME_LIMIT="25",
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        CELERY_UNACKED_RESTORE_INTERVAL="1",
    )
    process = Worker(env, "embed", tmp_path / "worker.log")
    yield process
    process.stop()


def _models(clip_checkpoint: str) -> list[EmbeddingModel]:
    first = register_model("micro-a", TEST_MODEL_ARCH, clip_checkpoint)
    first.activate()
    return [first, register_model("micro-b", TEST_MODEL_ARCH, clip_checkpoint)]


def test_it_embeds_every_artwork_exactly_once_per_model_through_repeated_sigkills(
    aic: Any, broker: RedisServer, worker: Worker, clip_checkpoint: str
) -> None:
    sync_from_api(limit=32)  # before any model is active, so the harvest queues nothing
    ids = sorted(Artwork.objects.exclude(image_id="").values_list("pk", flat=True))
    models = _models(clip_checkpoint)
    aic.latency_s = 0.25  # every image takes a while, so a kill lands inside a batch
    for model in models:
        for start in range(0, len(ids), BATCH_SIZE):
            worker.client.send_task("embeddings.tasks.embed_artworks_task", [ids[start : start + BATCH_SIZE], model.pk])

    worker.start()
    kills: list[str] = []
    for kind in ["pool", "pool", "worker", "pool", "worker"]:
        requests_before = aic.count("/iiif/2/")

        def fetching(before: int = requests_before) -> bool:
            return bool(aic.count("/iiif/2/") > before)

        wait_for(fetching, 60, "a batch fetching images")
        if kind == "pool":
            killed = worker.kill_pool_process()

            def replaced(killed: int = killed) -> bool:
                return bool(worker.pool_pids()) and killed not in worker.pool_pids()

            wait_for(replaced, 30, "a new pool process")
        else:
            worker.kill()
            worker.start()
        kills.append(kind)
    last_kill = time.monotonic()

    expected = {(pk, model.pk) for pk in ids for model in models}

    def rows() -> list[tuple[int, int]]:
        return list(ArtworkEmbedding.objects.values_list("artwork_id", "model_id"))

    wait_for(lambda: set(rows()) == expected, VISIBILITY_TIMEOUT + 60, "every artwork embedded under both models")
    assert time.monotonic() - last_kill < VISIBILITY_TIMEOUT + 60
    assert kills == ["pool", "pool", "worker", "pool", "worker"]
    assert sorted(rows()) == sorted(expected)  # exactly once per (artwork, model)
    assert not EmbeddingFailure.objects.exists()
    assert worker.alive
    # Nothing is left queued or unacknowledged for a later worker to do twice.
    client = redis.Redis.from_url(broker.url())
    wait_for(lambda: client.llen("embed") == 0 and client.hlen("unacked") == 0, 20, "an empty broker")
