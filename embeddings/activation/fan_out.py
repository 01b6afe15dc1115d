"""The activation on the embed queue: the gate once, then the pass fanned out over every embed worker.

``start`` runs the gate (``steps.gate``) and hands over to the watcher. A watcher step runs one at a
time per model (a PostgreSQL advisory lock), and only the one that carries the activation's current
token (a redelivered or doubled step stands down). Each step:

- queues the next page (ACTIVATION_QUEUE_PAGE_TASKS) of what the activation has still to handle as
  ``embed_artworks_task`` batches of EMBED_BATCH_SIZE, in primary-key order after ``queued_through``
  (keyset pagination: no list of the whole catalog in memory, no huge message; the next step resumes
  where queuing stopped, and artworks harvested meanwhile join the pass);
- measures progress from the database (``measure``), whichever worker embedded what;
- once everything is queued and nothing is left to handle, switches (``steps.switch``): exactly once,
  since the switching step holds the lock and every later step finds the activation over;
- when nothing moved for a redelivery window (``lease.queue_hold_seconds``) while the embed queue is
  idle, the tasks of what is left were lost (a purged queue, a broker that lost its data): queuing
  starts over from the first artwork, for those still unhandled;

then sends the next step: at once while pages remain, else after ACTIVATION_WATCH_SECONDS. A batch
whose worker died comes back by itself (``acks_late``, redelivered after the visibility timeout).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet

from catalog.models import Artwork
from core.retry import TRANSIENT_ERRORS
from embeddings.activation.lease import LeaseRenewal, hold_lease, queue_hold_seconds, release_lease
from embeddings.activation.states import ActivationState
from embeddings.activation.status import ActivationStatus, recorded_status, save_status
from embeddings.activation.steps import errors_end_it, gate, switch
from embeddings.indexing import artworks_missing_vectors, enqueue_embedding
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel
from embeddings.sweep import embed_queue_idle

# A step that finds another one of the same model running is sent again this many seconds later.
LOCK_BUSY_SECONDS = 1.0
_WATCH_LOCK = 0x61637476  # pg advisory lock class; the model's pk is the object
# The states in which the first step may (still) hand the activation over to the watcher.
_BEFORE_THE_WATCHER = (ActivationState.QUEUED, ActivationState.GATING, ActivationState.EMBEDDING)

# send_next(token, countdown): queue the next watcher step, carrying ``token``, ``countdown`` seconds on.
SendNext = Callable[[str, float], None]


def start(candidate: EmbeddingModel, *, force: bool, send_next: SendNext) -> ActivationStatus:
    """The first step on the queue: the gate, then the first watcher step. Returns the status it leaves."""
    status = recorded_status(candidate)
    if status is None:  # Redis lost it while the step waited
        status = ActivationStatus(
            model_id=candidate.pk, model=candidate.name, state=ActivationState.QUEUED, force=force
        )
    elif status.watch_token or status.state not in _BEFORE_THE_WATCHER:
        return status  # a first step delivered again once the activation had moved on

    def report(state: ActivationState, message: str = "") -> None:
        _report(status, state, message)

    finished = True
    try:
        with LeaseRenewal(candidate.pk, _hold_seconds()), errors_end_it(report, passing=TRANSIENT_ERRORS):
            candidate.refresh_from_db()
            if candidate.is_active:
                report(ActivationState.ACTIVE, "already the active model")
                return status
            if status.state != ActivationState.EMBEDDING:  # not a step tried again after the gate
                gate(candidate, status, report)
            status.embedding_since = _database_now()
            status.progress_at, status.queued_through = time.time(), 0
            with _watch_lock(candidate.pk, wait=True):  # the watcher reads the token once it is stored
                status.watch_token = uuid.uuid4().hex
                send_next(status.watch_token, 0)
                report(ActivationState.EMBEDDING, status.message)
            finished = False
    except TRANSIENT_ERRORS:
        finished = False  # the task is tried again: the activation goes on
        raise
    finally:
        _keep_or_release_lease(candidate, finished)
    return status


def watch(candidate: EmbeddingModel, token: str, *, prune: bool, send_next: SendNext) -> ActivationStatus | None:
    """One watcher step (see the module's docstring). Returns the activation's status, or None when
    another step of the model held the lock (this one is sent again shortly)."""
    with _watch_lock(candidate.pk) as held:
        if not held:
            send_next(token, LOCK_BUSY_SECONDS)
            return None
        status = recorded_status(candidate)
        if status is None or status.watch_token != token or status.state != ActivationState.EMBEDDING:
            return status  # a step of an activation that has ended, or one a newer step replaced
        finished = True
        try:
            with LeaseRenewal(candidate.pk, _hold_seconds()):
                finished = _watch(candidate, status, prune, send_next)
        except TRANSIENT_ERRORS:
            finished = False  # the task is tried again with the same token: the activation goes on
            raise
        finally:
            _keep_or_release_lease(candidate, finished)
        return status


def unfinished_artworks(candidate: EmbeddingModel, since: float) -> QuerySet[Artwork]:
    """Artworks the activation begun at ``since`` (epoch seconds, database clock) has yet to handle:
    no vector under ``candidate``, and no failure recorded since it began (an older one is retried)."""
    return artworks_missing_vectors(candidate).exclude(Exists(_failed_since(candidate, since)))


def measure(candidate: EmbeddingModel, status: ActivationStatus) -> int:
    """Set the status's counts from the database; returns how many artworks are left to handle."""
    since = datetime.fromtimestamp(status.embedding_since, tz=UTC)
    pending = unfinished_artworks(candidate, status.embedding_since).count()
    failed = (
        artworks_missing_vectors(candidate).filter(Exists(_failed_since(candidate, status.embedding_since))).count()
    )
    embedded = (
        ArtworkEmbedding.objects.filter(model=candidate, created_at__gte=since, artwork__withdrawn_at=None)
        .exclude(artwork__image_id="")
        .count()
    )
    if embedded + failed != status.done:
        status.progress_at = time.time()
    status.done, status.embedded, status.failed = embedded + failed, embedded, failed
    status.measured_at = time.time()
    status.to_embed = max(status.to_embed, status.done + pending)  # artworks that arrived meanwhile join
    return pending


def queue_page(candidate: EmbeddingModel, status: ActivationStatus) -> int:
    """Queue the next page of unfinished artworks after ``status.queued_through``; returns how many."""
    # The next step is queued behind this page: it queues the next one once workers have taken this one.
    page_size = settings.EMBED_BATCH_SIZE * settings.ACTIVATION_QUEUE_PAGE_TASKS
    after = unfinished_artworks(candidate, status.embedding_since).filter(pk__gt=status.queued_through)
    page = list(after.order_by("pk").values_list("pk", flat=True)[:page_size])
    if page:
        enqueue_embedding(page, candidate)
        status.queued_through = page[-1]
    return len(page)


def _watch(candidate: EmbeddingModel, status: ActivationStatus, prune: bool, send_next: SendNext) -> bool:
    """The step's work; returns whether the activation is over."""

    def report(state: ActivationState, message: str = "") -> None:
        _report(status, state, message)

    with errors_end_it(report, passing=TRANSIENT_ERRORS):
        candidate.refresh_from_db()
        if candidate.is_active:
            report(ActivationState.ACTIVE, "already the active model")
            return True
        queued = queue_page(candidate, status)
        if queued and time.time() - status.measured_at < settings.ACTIVATION_WATCH_SECONDS:
            # While pages are queued, a step follows each page: the counts, over the whole catalog,
            # are taken once a watch interval.
            pending = queued
        else:
            pending = measure(candidate, status)
        if not queued and not pending:
            report(ActivationState.ACTIVE, switch(candidate, prune, report, force=status.force))
            return True
        if not queued and time.time() - status.progress_at > queue_hold_seconds() and embed_queue_idle():
            status.queued_through, status.progress_at = 0, time.time()
            status.requeued += 1
            status.message = f"queued the {pending} artworks left again: their tasks were lost"
            queued = pending
        status.watch_token = uuid.uuid4().hex
        # Sent before the new token is saved: this step holds the lock until then, so the next one
        # cannot read the old token; were this process to die in between, its redelivery still
        # carries the saved token and goes on.
        send_next(status.watch_token, 0 if queued else settings.ACTIVATION_WATCH_SECONDS)
        report(ActivationState.EMBEDDING, status.message)
        return False
    return True


def _report(status: ActivationStatus, state: ActivationState, message: str) -> None:
    status.state, status.message, status.updated_at = state, message, time.time()
    save_status(status, strict=True)  # the next step goes on only from the token stored here


def _hold_seconds() -> float:
    """The lease of an activation on the queue: a step's wait on the queue, and the watch interval."""
    return queue_hold_seconds() + settings.ACTIVATION_WATCH_SECONDS


def _keep_or_release_lease(candidate: EmbeddingModel, finished: bool) -> None:
    if finished:
        release_lease(candidate.pk)
    else:
        hold_lease(candidate.pk, _hold_seconds())


def _failed_since(candidate: EmbeddingModel, since: float) -> QuerySet[EmbeddingFailure]:
    when = datetime.fromtimestamp(since, tz=UTC)
    return EmbeddingFailure.objects.filter(model=candidate, artwork=OuterRef("pk"), failed_at__gte=when)


def _database_now() -> float:
    """Vectors and failures are stamped by the database's clock: the activation's start is read from it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extract(epoch FROM now())")
        row = cursor.fetchone()
    return float(row[0])


@contextmanager
def _watch_lock(model_id: int, *, wait: bool = False) -> Iterator[bool]:
    """Yields whether this step holds the model's watcher lock, waiting for it if ``wait`` (a session
    lock: a step whose process dies gives it up with its connection)."""
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s, %s), true", [_WATCH_LOCK, model_id])
        else:
            cursor.execute("SELECT NULL, pg_try_advisory_lock(%s, %s)", [_WATCH_LOCK, model_id])
        row = cursor.fetchone()
    held = bool(row and row[1])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_WATCH_LOCK, model_id])
