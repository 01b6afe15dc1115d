"""An activation on the embed queue whose batches were lost (a purged queue, a broker that lost its data)
queues what is left again, once nothing has moved for a redelivery window while the queue is idle.

One real worker with quick redelivery (a 30 s visibility timeout over a 20 s task limit): the window
is 50 s. While its first batch waits for a slow image, every other batch is taken off the queue."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from catalog.harvest import sync_from_api
from catalog.models import Artwork
from conftest import ROOT, TEST_MODEL_ARCH
from embeddings.activation.status import activation_status
from embeddings.encoders.registry import register_model
from embeddings.models import ArtworkEmbedding
from museum_site.tests.processes import RedisServer, Worker, fault_worker_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

BATCH_SIZE = 4
EMBED_TASK = "embeddings.tasks.embed_artworks_task"
SLOW_IMAGE_SECONDS = 3.0


@pytest.fixture
def environment(broker: RedisServer, aic: Any, test_database_url: str, settings: Any, tmp_path: Path) -> dict[str, str]:
    settings.REDIS_URL = broker.url()  # where the worker keeps the activation's status
    return fault_worker_env(
        broker.url(),
        aic,
        test_database_url,
        tmp_path / "images",
        EMBED_BATCH_SIZE=str(BATCH_SIZE),
        IIIF_TIMEOUT_SECONDS=str(SLOW_IMAGE_SECONDS + 5),
    )


@pytest.fixture
def worker(environment: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    process = Worker(environment, "embed", tmp_path / "worker.log")
    process.start()
    yield process
    process.stop()


def test_batches_lost_from_the_queue_are_queued_again_and_the_activation_completes(
    aic: Any, broker: RedisServer, environment: dict[str, str], worker: Worker, clip_checkpoint: str
) -> None:
    sync_from_api(limit=24)  # before any model is active, so the harvest queues nothing
    artworks = list(Artwork.objects.exclude(image_id="").order_by("pk"))
    candidate = register_model("candidate", TEST_MODEL_ARCH, clip_checkpoint)
    first = artworks[0]
    aic.inject("timeout", path_prefix=f"/iiif/2/{first.image_id}/", seconds=SLOW_IMAGE_SECONDS)

    subprocess.run(
        [sys.executable, "manage.py", "activate_model", candidate.name, "--queue"],
        cwd=ROOT,
        env=environment,
        check=True,
        capture_output=True,
    )
    wait_for(lambda: aic.count(f"/iiif/2/{first.image_id}/") == 1, 60, "the first batch fetching its slow image")
    lost = _drop_queued(broker.url(), EMBED_TASK)
    assert lost == len(artworks) // BATCH_SIZE + bool(len(artworks) % BATCH_SIZE) - 1

    # The first batch lands; then nothing moves until the watcher queues the rest again.
    wait_for(lambda: ArtworkEmbedding.objects.filter(model=candidate).count() == BATCH_SIZE, 60, "the first batch")
    status = activation_status(candidate)
    assert status is not None and status.state == "embedding" and status.requeued == 0

    def ended() -> bool:
        status = activation_status(candidate)
        return status is not None and status.state not in ("queued", "gating", "embedding", "switching")

    wait_for(ended, 150, f"the activation (worker log: {worker.log_tail()})")
    candidate.refresh_from_db()
    assert candidate.is_active
    assert ArtworkEmbedding.objects.filter(model=candidate).count() == len(artworks)
    status = activation_status(candidate)
    assert status is not None and status.state == "active" and status.requeued == 1
    assert status.done == status.embedded == len(artworks)
    for artwork in artworks:  # the lost batches were never fetched: queued again, each image comes once
        assert aic.count(f"/iiif/2/{artwork.image_id}/") == 1, artwork.image_id


def _drop_queued(broker_url: str, task: str) -> int:
    """Take every queued ``task`` off the embed queue, as a purge would; returns how many."""
    client = redis.Redis.from_url(broker_url)
    dropped = 0
    for raw in client.lrange("embed", 0, -1):
        if json.loads(raw)["headers"]["task"] == task:
            dropped += int(client.lrem("embed", 1, raw))
    return dropped
