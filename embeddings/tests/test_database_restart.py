"""PostgreSQL restarts while a worker embeds: the tasks that meet the outage are retried with backoff,
and every artwork ends embedded exactly once.

The server is an embedded PostgreSQL 18 + pgvector of this test's own (its own data folder), so the
restart reaches no other test; the worker, its broker and the fake AIC server are this test's too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import TEST_MODEL_ARCH
from museum_site.tests.processes import EmbeddedPostgres, RedisServer, Worker, wait_for, worker_env

pytestmark = pytest.mark.faults

OUTAGE_SECONDS = 3.0


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pgdata")
    server.start()
    yield server
    server.stop()


def test_it_retries_through_a_database_restart_and_loses_nothing(
    postgres: EmbeddedPostgres, broker: RedisServer, aic: Any, clip_checkpoint: str, tmp_path: Path
) -> None:
    env = worker_env(
        DATABASE_URL=postgres.url,
        REDIS_URL=broker.url(),
        CELERY_BROKER_URL=broker.url(),
        AIC_API_URL=aic.api_url,
        AIC_IIIF_URL=aic.iiif_url,
        IMAGE_CACHE_DIR=str(tmp_path / "worker_images"),
        EMBED_BATCH_SIZE="4",
        IIIF_FETCH_CONCURRENCY="1",
        CELERY_TASK_SOFT_TIME_LIMIT="20",
        CELERY_TASK_TIME_LIMIT="25",
        CELERY_VISIBILITY_TIMEOUT="30",
        CELERY_UNACKED_RESTORE_INTERVAL="1",
    )
    postgres.manage("migrate", "--noinput", env=env)
    postgres.manage(
        "register_model", "micro", "--model", TEST_MODEL_ARCH, "--pretrained", clip_checkpoint, "--activate", env=env
    )
    postgres.manage("sync_aic", "--limit", "32", env=env)  # queues the embedding of what it stores
    with_image = postgres.query("SELECT count(*) FROM catalog_artwork WHERE image_id <> ''")[0][0]
    assert with_image >= 20

    def embedded() -> int:
        try:
            return int(postgres.query("SELECT count(*) FROM embeddings_artworkembedding")[0][0])
        except Exception:  # the server is restarting
            return -1

    aic.latency_s = 0.25  # each image takes a while, so the restart lands inside a batch
    worker = Worker(env, "embed", tmp_path / "worker.log")
    worker.start()
    try:
        wait_for(lambda: embedded() >= 4, 60, "a first batch")
        postgres.stop()
        time.sleep(OUTAGE_SECONDS)
        postgres.start()

        wait_for(lambda: embedded() == with_image, 120, "every artwork embedded")
        rows, artworks = postgres.query("SELECT count(*), count(DISTINCT artwork_id) FROM embeddings_artworkembedding")[
            0
        ]
        assert rows == artworks == with_image
        assert postgres.query("SELECT count(*) FROM embeddings_embeddingfailure")[0][0] == 0
        assert worker.alive
        assert "Retry in" in worker.log_tail(200_000)  # the outage was met, and retried
    finally:
        worker.stop()
