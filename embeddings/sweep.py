"""The periodic sweep: embedding work that was lost or failed for a while is queued again.

Beat runs it every EMBED_SWEEP_INTERVAL_SECONDS, so the index converges with no one touching it:
- transient failures (the image server down, a timeout, 429) whose ``retry_at`` has come are
  claimed and queued (``pipeline.record_failures`` sets the time, with backoff);
- artworks still pending EMBED_PENDING_GRACE_SECONDS after they last changed, while no embedding
  task waits in the queue, had their task lost (committed while the broker was away, a purged
  queue) and are queued again. A queue that still holds tasks may hold theirs: the sweep waits
  until it drains, which also keeps it from doubling a long backlog.
Permanent failures (404, undecodable, too large) stay as they are until the record's image
changes or a curator asks. A model being activated on the embed queue is not swept: its
activation's watcher (``activation/fan_out.py``) queues again what lost tasks left undone.

It also keeps the caches of the worker that runs it bounded (``cache_pruning``): files of images no
artwork uses any more (a changed image, a withdrawn record) are deleted, and the pixel cache is
held to EMBED_PIXEL_CACHE_MAX_GB.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta

import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from catalog.models import Artwork
from core.redis_clients import WORKER_TIMEOUT_SECONDS, redis_client
from embeddings.images.cache_pruning import enforce_pixel_cache_limit, prune_image_files
from embeddings.images.iiif_cache import ImageCache
from embeddings.indexing import pending_artworks
from embeddings.models import EmbeddingFailure, EmbeddingModel

logger = logging.getLogger(__name__)

EMBED_QUEUE = "embed"
# Most artworks one sweep queues of each kind; the next sweep takes the rest.
SWEEP_MAX_ARTWORKS = 50_000

Enqueue = Callable[[list[int], EmbeddingModel], int]


@dataclass(frozen=True)
class SweepResult:
    retried: int = 0  # transient failures queued again
    lost: int = 0  # pending artworks queued again
    tasks: int = 0
    files_pruned: int = 0  # cached files of images no artwork uses
    pixels_evicted: int = 0  # pixel files evicted to keep the pixel cache in its bound

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def sweep(enqueue: Enqueue, cache: ImageCache | None = None) -> SweepResult:
    """Queue what is due under the active model, with ``enqueue(artwork_ids, model)`` (returns tasks),
    then bound this worker's caches."""
    model = EmbeddingModel.active()
    due: list[int] = []
    lost: list[int] = []
    tasks = 0
    if model is not None:
        due = claim_due_failures(model)
        tasks = enqueue(due, model) if due else 0
        if embed_queue_idle():
            lost = lost_pending(model)
            tasks += enqueue(lost, model) if lost else 0
        if due or lost:
            logger.info(
                "sweep: queued %d failures due for a retry and %d lost artworks (%d tasks)", len(due), len(lost), tasks
            )
    pruned, evicted = bound_caches(cache or ImageCache.from_settings())
    return SweepResult(retried=len(due), lost=len(lost), tasks=tasks, files_pruned=pruned, pixels_evicted=evicted)


def bound_caches(cache: ImageCache) -> tuple[int, int]:
    """Delete the cached files of images no listed artwork uses, and evict pixel files past
    EMBED_PIXEL_CACHE_MAX_GB; returns (files pruned, pixel files evicted)."""
    keep = set(Artwork.objects.filter(withdrawn_at=None).exclude(image_id="").values_list("image_id", flat=True))
    pruned = 0
    if keep or not Artwork.objects.exists():
        # Files younger than the grace may belong to a record committed a moment ago.
        result = prune_image_files(
            cache.root, cache.pixels_root, keep, older_than_seconds=settings.EMBED_PENDING_GRACE_SECONDS
        )
        pruned = result.images + result.pixels + result.partials
        if pruned:
            logger.info("sweep: removed %d cached files of images no artwork uses (%d bytes)", pruned, result.bytes)
    evicted = enforce_pixel_cache_limit(cache.pixels_root, int(settings.EMBED_PIXEL_CACHE_MAX_GB * 1e9))
    return pruned, evicted


def claim_due_failures(model: EmbeddingModel, limit: int = SWEEP_MAX_ARTWORKS) -> list[int]:
    """Artworks whose transient failure is due for a retry. Each is claimed (its ``retry_at`` moved
    past the window in which a lost task is delivered again), so the next sweep does not queue it
    twice; a retry that fails again sets its own next time."""
    failures = EmbeddingFailure._meta.db_table
    artworks = Artwork._meta.db_table
    claim_seconds = settings.CELERY_VISIBILITY_TIMEOUT + settings.CELERY_TASK_TIME_LIMIT
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {failures} SET retry_at = now() + make_interval(secs => %s) WHERE id IN ("
            f"  SELECT f.id FROM {failures} f JOIN {artworks} a ON a.id = f.artwork_id"
            "   WHERE f.model_id = %s AND f.retry_at <= now() AND a.withdrawn_at IS NULL AND a.image_id = f.image_id"
            "   ORDER BY f.retry_at LIMIT %s FOR UPDATE OF f SKIP LOCKED"
            ") RETURNING artwork_id",
            [float(claim_seconds), model.pk, limit],
        )
        return sorted(row[0] for row in cursor.fetchall())


def lost_pending(model: EmbeddingModel, limit: int = SWEEP_MAX_ARTWORKS) -> list[int]:
    """Pending artworks (``indexing.pending_artworks``) unchanged for EMBED_PENDING_GRACE_SECONDS."""
    since = timezone.now() - timedelta(seconds=settings.EMBED_PENDING_GRACE_SECONDS)
    pending = pending_artworks(model).filter(updated_at__lt=since)
    return list(pending.order_by("pk").values_list("pk", flat=True)[:limit])


def embed_queue_idle() -> bool:
    """Whether no task waits in the embed queue (False when the broker cannot be read)."""
    try:
        client = redis_client(settings.CELERY_BROKER_URL, timeout=WORKER_TIMEOUT_SECONDS)
        return int(client.llen(EMBED_QUEUE)) == 0
    except redis.RedisError:
        logger.warning("sweep: cannot read the embed queue's length; lost artworks wait for the next sweep")
        return False
