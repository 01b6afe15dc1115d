"""An embedding task longer than its time limit: no work is rolled back, the rest goes on in new tasks.

A real worker with a 10 s soft time limit (so a 5 s budget) gets one task of far more images than
that budget downloads at the fake IIIF server's pace."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog.harvest import sync_from_api
from catalog.models import Artwork
from embeddings.models import ArtworkEmbedding, EmbeddingFailure
from museum_site.tests.processes import RedisServer, Worker, fault_worker_env, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(broker: RedisServer, aic: Any, test_database_url: str, tmp_path: Path) -> Iterator[Worker]:
    env = fault_worker_env(
        broker.url(),
        aic,
        test_database_url,
        tmp_path / "worker_images",
        IIIF_FETCH_CONCURRENCY="2",
        IIIF_TIMEOUT_SECONDS="30",
        EMBED_FORWARD_BATCH_SIZE="4",
    )
    process = Worker(env, "embed", tmp_path / "worker.log")
    yield process
    process.stop()


def _tasks_done(worker: Worker) -> int:
    return len(re.findall(r"Task embeddings\.tasks\.embed_artworks_task\[[^\]]+\] succeeded", worker.log_tail(10**7)))


def test_a_batch_beyond_the_budget_is_embedded_once_over_several_tasks(
    aic: Any, worker: Worker, embedding_model: Any
) -> None:
    sync_from_api(limit=60)
    ids = sorted(Artwork.objects.exclude(image_id="").values_list("pk", flat=True))
    assert len(ids) >= 40
    aic.latency_s = 0.5  # about 4 images a second with 2 downloads at once: far more than 5 s of work
    worker.client.send_task("embeddings.tasks.embed_artworks_task", [ids, embedding_model.pk])
    worker.start()
    wait_for(lambda: ArtworkEmbedding.objects.filter(model=embedding_model).count() == len(ids), 120, "every vector")
    wait_for(lambda: _tasks_done(worker) >= 3, 30, "the tasks to end")
    assert not EmbeddingFailure.objects.exists()
    fetched = [r.path for r in aic.requests if r.path.startswith("/iiif/2/")]
    assert len(fetched) == len(set(fetched)) == len(ids), [p for p in fetched if fetched.count(p) > 1]
    assert "artworks left for the next task" in worker.log_tail(10**7)


def test_a_soft_time_limit_keeps_the_batches_done_and_queues_the_rest(
    aic: Any, worker: Worker, embedding_model: Any
) -> None:
    sync_from_api(limit=40)
    ids = sorted(Artwork.objects.exclude(image_id="").values_list("pk", flat=True))
    worker.client.send_task("embeddings.tasks.embed_artworks_task", [ids, embedding_model.pk])
    worker.start()
    wait_for(lambda: aic.count("/iiif/2/") >= 8, 60, "the first images")
    aic.latency_s = 15.0  # the image server stalls: the task meets its soft time limit mid-batch
    wait_for(lambda: "soft time limit" in worker.log_tail(10**7), 60, "the soft time limit")
    done_before_the_limit = ArtworkEmbedding.objects.filter(model=embedding_model).count()
    assert done_before_the_limit >= 4  # committed before the limit, and not rolled back by it
    aic.latency_s = 0.0
    wait_for(lambda: ArtworkEmbedding.objects.filter(model=embedding_model).count() == len(ids), 120, "every vector")
    assert not EmbeddingFailure.objects.exists()
