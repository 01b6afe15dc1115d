"""An activation on the embed queue is fanned out over every embed worker, and switches once both are done.

Two real Celery workers, each with its own image cache (its own local disk) and node name, share one
private broker. ``activate_model --queue --wait`` queues the activation; every artwork is embedded, each
worker embeds some of them, each image is downloaded from the IIIF server once in all, and the model
stays inactive while a slow batch is still running on one worker."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog.harvest import sync_from_api
from catalog.models import Artwork
from conftest import ROOT, TEST_MODEL_ARCH
from embeddings.activation.status import activation_status
from embeddings.encoders.registry import register_model
from embeddings.images.iiif_cache import ImageCache
from embeddings.models import ArtworkEmbedding
from museum_site.tests.processes import RedisServer, Worker, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

BATCH_SIZE = 4
PAGE_TASKS = 2  # the activation queues its batches a page of two at a time
SLOW_IMAGE_SECONDS = 10.0


@pytest.fixture
def environment(broker: RedisServer, aic: Any, test_database_url: str, settings: Any) -> dict[str, str]:
    """The workers' and the command's environment; this test reads the activation's status from the
    broker's Redis, where they keep it."""
    settings.REDIS_URL = broker.url()
    return worker_env(
        DATABASE_URL=test_database_url,
        REDIS_URL=broker.url(),
        CELERY_BROKER_URL=broker.url(),
        AIC_API_URL=aic.api_url,
        AIC_IIIF_URL=aic.iiif_url,
        IIIF_TIMEOUT_SECONDS=str(SLOW_IMAGE_SECONDS + 20),
        EMBED_BATCH_SIZE=str(BATCH_SIZE),
        ACTIVATION_WATCH_SECONDS="1",
        ACTIVATION_QUEUE_PAGE_TASKS=str(PAGE_TASKS),
        CELERY_UNACKED_RESTORE_INTERVAL="1",
        # A task works for half its soft limit: the slow image arrives well inside it, so no batch is
        # split and handed on to the other worker (which would download its images again).
        CELERY_TASK_SOFT_TIME_LIMIT="60",
        CELERY_TASK_TIME_LIMIT="90",
        CELERY_VISIBILITY_TIMEOUT="120",
    )


@pytest.fixture
def workers(environment: dict[str, str], tmp_path: Path) -> Iterator[dict[str, Worker]]:
    started: dict[str, Worker] = {}
    try:
        for name in ("gpu-a", "gpu-b"):
            env = {**environment, "IMAGE_CACHE_DIR": str(tmp_path / name / "images")}
            started[name] = Worker(env, "embed", tmp_path / name / "worker.log")
            (tmp_path / name).mkdir()
            started[name].start()
        yield started
    finally:
        for worker in started.values():
            worker.stop()


def test_every_embed_worker_takes_a_share_and_the_switch_waits_for_the_last_batch(
    aic: Any,
    environment: dict[str, str],
    workers: dict[str, Worker],
    clip_checkpoint: str,
    settings: Any,
    tmp_path: Path,
) -> None:
    sync_from_api(limit=24)  # before any model is active, so the harvest queues nothing
    artworks = list(Artwork.objects.exclude(image_id="").order_by("pk"))
    candidate = register_model("candidate", TEST_MODEL_ARCH, clip_checkpoint)
    aic.latency_s = 0.2  # every image takes a while, so both workers are busy at once
    slow = artworks[-1]  # in the last batch queued: the other worker has finished by the time it arrives
    aic.inject("timeout", path_prefix=f"/iiif/2/{slow.image_id}/", seconds=SLOW_IMAGE_SECONDS)

    log = tmp_path / "activate.log"
    with log.open("w") as handle:
        command = subprocess.Popen(
            [sys.executable, "manage.py", "activate_model", candidate.name, "--queue", "--wait"],
            cwd=ROOT,
            env=environment,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        # Every batch but the slow one is embedded, while the slow one waits for its image.
        def only_the_slow_batch_runs() -> bool:
            embedded = ArtworkEmbedding.objects.filter(model=candidate).count()
            return embedded >= len(artworks) - BATCH_SIZE and aic.count(f"/iiif/2/{slow.image_id}/") == 1

        wait_for(only_the_slow_batch_runs, 120, "every batch but the slow one embedded")
        time.sleep(3)  # several watcher steps (ACTIVATION_WATCH_SECONDS=1) look at the coverage meanwhile
        assert not ArtworkEmbedding.objects.filter(model=candidate, artwork=slow).exists()
        candidate.refresh_from_db()
        assert not candidate.is_active
        status = activation_status(candidate)
        assert status is not None and status.state == "embedding"
        assert len(artworks) - BATCH_SIZE <= status.done < len(artworks)

        command.wait(timeout=120)
    finally:
        if command.poll() is None:
            command.kill()
    output = log.read_text()
    assert command.returncode == 0, output

    candidate.refresh_from_db()
    assert candidate.is_active
    assert set(ArtworkEmbedding.objects.filter(model=candidate).values_list("artwork_id", flat=True)) == {
        artwork.pk for artwork in artworks
    }
    status = activation_status(candidate)
    assert status is not None and status.state == "active"
    assert (status.to_embed, status.done, status.embedded, status.failed) == (
        len(artworks),
        len(artworks),
        len(artworks),
        0,
    )
    # The command showed the progress as the workers made it, then the switch.
    shown = [int(done) for done in re.findall(rf"candidate: embedding, (\d+)/{len(artworks)} artworks", output)]
    assert any(0 < done < len(artworks) for done in shown), output
    assert "candidate is now the active model (no model was active before)" in output

    # Each image came from the IIIF server once in all, and lies in the cache of the worker that embedded it.
    for artwork in artworks:
        assert aic.count(f"/iiif/2/{artwork.image_id}/") == 1, artwork.image_id
    cached = {name: _cached_images(worker, artworks, settings) for name, worker in workers.items()}
    assert all(cached.values()), cached
    assert cached["gpu-a"].isdisjoint(cached["gpu-b"])
    assert cached["gpu-a"] | cached["gpu-b"] == {artwork.image_id for artwork in artworks}

    # Both workers embedded a share, as their logs say; one of them switched, once.
    embedded = {name: _embedded_in_log(worker) for name, worker in workers.items()}
    assert all(embedded.values()) and sum(embedded.values()) == len(artworks), embedded
    # The batches were queued a page at a time, each watcher step resuming where the last one stopped.
    queued_through = sorted({value for worker in workers.values() for value in _queued_through_in_log(worker)})
    page = BATCH_SIZE * PAGE_TASKS
    assert queued_through == sorted({artwork.pk for artwork in artworks[page - 1 :: page]} | {artworks[-1].pk})
    switches = sum(worker.log.read_text().count("model candidate is active") for worker in workers.values())
    assert switches == 1


def _cached_images(worker: Worker, artworks: list[Artwork], settings: Any) -> set[str]:
    settings.IMAGE_CACHE_DIR = Path(worker.env["IMAGE_CACHE_DIR"])
    cache = ImageCache.from_settings()
    return {artwork.image_id for artwork in artworks if cache.path_for(artwork.image_id).exists()}


def _embedded_in_log(worker: Worker) -> int:
    """Artworks this worker's embed tasks embedded, from the results its log records."""
    results = re.findall(r"embed_artworks_task\[[^\]]+\] succeeded in [\d.]+s: (\{.*\})", worker.log.read_text())
    return sum(int(ast.literal_eval(result)["embedded"]) for result in results)


def _queued_through_in_log(worker: Worker) -> list[int]:
    """Where queuing stood after each watcher step this worker ran, from its log."""
    results = re.findall(r"watch_activation_task\[[^\]]+\] succeeded in [\d.]+s: (\{.*\})", worker.log.read_text())
    return [int(ast.literal_eval(result)["queued_through"]) for result in results]
