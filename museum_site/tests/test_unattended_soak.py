"""Months unattended, compressed into minutes: the index converges with no one touching it.

Real processes: a Celery worker on the sync queue, one on the embed queue, and beat, with its
schedules shortened (a harvest every 5 s, a full reconcile every 60 s, the sweep every 5 s) and a
10 s soft time limit, so that neither the first harvest nor an embedding task fits in one task.
The fake AIC server holds 2,000 records and serves them slowly. While they work, the world does
what it does: the image server is down for a minute, the queue is lost once (a Redis that came
back empty), and AIC withdraws records. After the start the test only watches, and changes the
world; it never calls the site.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from PIL import Image

from catalog.models import Artwork, SyncRun
from catalog.schedules import RECONCILE_SCHEDULE_NAME, ensure_harvest_schedules
from catalog.sync_status import HARVEST_SCHEDULE_NAME
from embeddings.indexing import index_counts
from embeddings.models import ArtworkEmbedding, EmbeddingFailure
from embeddings.schedules import SWEEP_SCHEDULE_NAME, ensure_sweep_schedule
from embeddings.sweep import lost_pending
from museum_site.tests.processes import ROOT, RedisServer, Worker, fault_worker_env, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

RECORDS = 2_000
OUTAGE_SECONDS = 60
WITHDRAWN = 40  # 2 % of the collection: under AIC_MAX_WITHDRAW_FRACTION


def _jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def _grow_collection(aic: Any) -> list[int]:
    """Add generated records, each with an image of its own, to the sample's; returns their ids."""
    templates = list(aic.records.values())
    added = []
    start = datetime(2019, 1, 1, tzinfo=UTC)
    for number in range(RECORDS - len(templates)):
        record = copy.deepcopy(templates[number % len(templates)])
        aic_id = 5_000_000 + number
        image_id = f"soak{number:06d}-0000-4000-8000-000000000000"
        record.update(
            id=aic_id,
            title=f"{record.get('title') or 'Untitled'} (study {number})",
            image_id=image_id,
            updated_at=(start + timedelta(minutes=number)).isoformat(),
        )
        aic.upsert_record(record)
        aic.set_image_bytes(image_id, _jpeg(number))
        added.append(aic_id)
    return added


def _every(name: str, seconds: int) -> None:
    interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(name=name).update(interval=interval, enabled=True, last_run_at=None)


class Beat:
    """``celery beat`` in its own process group, reading the schedules from the database."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "museum_site", "beat", "-l", "INFO", "--max-interval", "1"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Fleet:
    """The site's background processes: a sync worker, an embed worker and beat."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.sync = Worker(env, "sync,default", folder / "sync.log")
        self.embed = Worker(env, "embed", folder / "embed.log")
        self.beat = Beat(env, folder / "beat.log")

    def start(self) -> None:
        self.sync.start()
        self.embed.start()
        self.beat.start()

    def stop(self) -> None:
        self.beat.stop()
        self.sync.stop()
        self.embed.stop()


@pytest.fixture
def fleet(broker: RedisServer, aic: Any, test_database_url: str, tmp_path: Path) -> Iterator[Fleet]:
    env = fault_worker_env(
        broker.url(),
        aic,
        test_database_url,
        tmp_path / "worker_images",
        AIC_PAGE_SIZE="100",
        AIC_REQUESTS_PER_MINUTE="120",  # the first walk takes longer than a task's 5 s budget
        IIIF_REQUESTS_PER_SECOND="15",
        IIIF_FETCH_CONCURRENCY="4",
        IIIF_MAX_RETRIES="1",
        IIIF_TIMEOUT_SECONDS="5",
        EMBED_BATCH_SIZE="200",
        EMBED_RETRY_DELAY_SECONDS="5",
        EMBED_RETRY_MAX_DELAY_SECONDS="15",
        EMBED_PENDING_GRACE_SECONDS="10",
    )
    processes = Fleet(env, tmp_path)
    try:
        yield processes
    finally:
        processes.stop()


def _image_downloads(aic: Any) -> Counter[str]:
    return Counter(r.path.split("/")[3] for r in aic.requests if r.path.startswith("/iiif/2/") and r.status == 200)


def test_the_collection_stays_complete_and_correct_with_no_hand_on_the_controls(
    aic: Any, fleet: Fleet, broker: RedisServer, embedding_model: Any
) -> None:
    generated = _grow_collection(aic)
    aic.latency_s = 0.05  # every request, pages and images alike, takes a while
    ensure_harvest_schedules()
    ensure_sweep_schedule()
    _every(HARVEST_SCHEDULE_NAME, 5)
    _every(RECONCILE_SCHEDULE_NAME, 60)
    _every(SWEEP_SCHEDULE_NAME, 5)
    queue = redis.Redis.from_url(broker.url())

    # The start: workers and beat. From here on the test only watches and changes the world.
    fleet.start()

    def first_walk() -> SyncRun | None:
        return SyncRun.objects.filter(source="api").order_by("pk").first()

    wait_for(lambda: (run := first_walk()) is not None and run.status == SyncRun.Status.SUCCEEDED, 120, "first walk")

    # Embedding tasks queued by the harvest are lost once, as by a Redis that restarted empty.
    lost_tasks = int(queue.llen("embed"))
    queue.delete("embed")

    # AIC withdraws records, and its image server goes down for a minute.
    withdrawn = generated[-WITHDRAWN:]
    for aic_id in withdrawn:
        aic.remove_record(aic_id)
    wait_for(lambda: ArtworkEmbedding.objects.count() >= 200, 120, "some embedding before the outage")
    aic.inject("503", path_prefix="/iiif/2/", times=10**9)
    time.sleep(OUTAGE_SECONDS)
    aic.clear_faults()

    listed = RECORDS - WITHDRAWN

    def converged() -> bool:
        counts = index_counts(embedding_model)
        return (
            counts.artworks == listed
            and counts.pending == 0
            and counts.failed == 0
            and Artwork.objects.exclude(withdrawn_at=None).count() == WITHDRAWN
        )

    wait_for(converged, 300, "the index to converge", interval=1.0)

    # Every record stored exactly once; the withdrawn ones gone from the index and the cache.
    assert Artwork.objects.count() == RECORDS
    assert sum(SyncRun.objects.values_list("created", flat=True)) == RECORDS
    assert set(Artwork.objects.exclude(withdrawn_at=None).values_list("aic_id", flat=True)) == set(withdrawn)
    gone = Artwork.objects.exclude(withdrawn_at=None)
    assert not ArtworkEmbedding.objects.filter(artwork__in=gone).exists()
    cache = Path(fleet.env["IMAGE_CACHE_DIR"])
    assert not [path for path in cache.rglob("soak*") if path.stem in set(gone.values_list("image_id", flat=True))]
    # Every image embedded exactly once: one vector each, each image downloaded once.
    with_image = Artwork.objects.filter(withdrawn_at=None).exclude(image_id="")
    assert ArtworkEmbedding.objects.filter(model=embedding_model).count() == with_image.count()
    downloads = _image_downloads(aic)
    assert max(downloads.values()) == 1, [image for image, count in downloads.items() if count > 1][:10]
    # Nothing failed that should heal, nothing pending, nothing waiting.
    assert not EmbeddingFailure.objects.exists()
    assert lost_pending(embedding_model) == []

    # And it was the hard way: the first walk spanned tasks, embedding tasks handed work on, the
    # sweep retried failures of the outage and queued the lost work.
    walk = first_walk()
    assert walk is not None and walk.tasks >= 2 and walk.full
    embed_log = fleet.embed.log_tail(10**8)
    assert "artworks left for the next task" in embed_log
    assert re.search(r"sweep: queued [1-9]\d* failures due for a retry", embed_log)
    assert lost_tasks == 0 or re.search(r"and [1-9]\d* lost artworks", embed_log)
    outage_failures = [r for r in aic.requests if r.path.startswith("/iiif/2/") and r.status == 503]
    assert outage_failures
