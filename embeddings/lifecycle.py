"""Activating a model without ever serving a half-built index, and pruning a retired model's vectors.

Activation has three stages:

1. The evaluation gate. Receivers of ``activation_gate`` (the training app compares test recall@5)
   may refuse the candidate; ``force`` overrides them.
2. One pass over the catalog in primary-key order embeds, batch by batch and from the image cache,
   every artwork with an image that has no vector under the candidate. Search meanwhile keeps using
   the active model: its rows and its own partial HNSW index are untouched.
3. The switch. Inside one transaction, and only if coverage is complete (nothing pending, and every
   artwork the active model serves has a vector under the candidate), the candidate becomes active.

The pass can run in one process (``manage.py activate_model``) or in steps on the embed queue (the
admin's action): a step stops after a time budget and says where the next one resumes. Progress is
kept in Redis for the admin and reported to a callback for the command.

While an activation runs, its process holds a lease in Redis and renews it every third of
``ACTIVATION_LEASE_SECONDS``. A command killed outright (SIGKILL, the OOM killer, a lost machine) stops
renewing it: within those seconds its activation reads as failed and may be started again. Between the
steps on the embed queue, and while a step runs there, the lease lasts as long as a step may wait to be
delivered or redelivered, since the queue resumes such an activation by itself.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.dispatch import Signal

from catalog.models import Artwork, visible_q
from core.redis_clients import WORKER_TIMEOUT_SECONDS, redis_client
from embeddings.encoders.types import ModelLoadError
from embeddings.images.iiif_cache import ImageCache
from embeddings.indexing import enqueue_embedding
from embeddings.models import ArtworkEmbedding, EmbeddingFailure, EmbeddingModel

logger = logging.getLogger(__name__)

# Sent with ``candidate`` and ``active`` (both EmbeddingModel) before a candidate is embedded. A receiver
# returns None to let it through, or a sentence saying why it must not replace the active model.
activation_gate = Signal()

STATUS_TTL_SECONDS = 7 * 24 * 3600
_SWITCH_LOCK = 0x6D6F64656C  # pg advisory lock key: one switch at a time
IN_PROGRESS = ("queued", "gating", "embedding", "switching")


class ActivationError(Exception):
    """The model cannot be activated now; the message says why."""


class ActivationRefused(ActivationError):
    """The evaluation gate refused the candidate."""


class ActivationIncomplete(ActivationError):
    """The pass ended, but the candidate lacks vectors that search serves today."""


@dataclass
class ActivationStatus:
    """Where an activation stands (kept in Redis; the admin reads it)."""

    model_id: int
    model: str
    state: str  # queued, gating, embedding, switching, active, refused, incomplete, failed
    force: bool = False
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    embedding_since: float = 0.0  # when the first batch started (the gate and the queue are not in the ETA)
    to_embed: int = 0  # artworks the pass found without a vector when it started
    done: int = 0  # of those, how many it has handled (embedded or failed)
    embedded: int = 0
    failed: int = 0
    message: str = ""

    @property
    def eta_seconds(self) -> float | None:
        if self.state != "embedding" or not self.done or self.done >= self.to_embed:
            return None
        return (time.time() - self.embedding_since) / self.done * (self.to_embed - self.done)

    def line(self) -> str:
        text = f"{self.model}: {self.state}"
        if self.to_embed:
            text += f", {self.done}/{self.to_embed} artworks handled ({self.embedded} embedded, {self.failed} failed)"
        if (eta := self.eta_seconds) is not None:
            text += f", about {eta:.0f} s left"
        return f"{text}. {self.message}" if self.message else text


@dataclass(frozen=True)
class Coverage:
    """What a candidate lacks compared with what search serves today."""

    with_image: int
    embedded: int
    pending: int  # artworks with an image, neither embedded nor failed under the candidate
    failed: int
    served_but_missing: list[int]  # artworks (pk) the active model serves that the candidate has no vector for

    @property
    def complete(self) -> bool:
        if self.pending or self.served_but_missing:
            return False
        return self.embedded > 0 or self.with_image == 0


@dataclass
class StepResult:
    status: ActivationStatus
    resume_after: int  # the last artwork pk the pass handled
    finished: bool  # True: the model is active or the activation ended with an error


StatusCallback = Callable[[ActivationStatus], None]


def activate(
    candidate: EmbeddingModel,
    *,
    force: bool = False,
    prune: bool = False,
    on_status: StatusCallback | None = None,
) -> ActivationStatus:
    """The whole activation in this process. Raises ActivationError (refused, incomplete) and leaves
    the active model in place."""
    status = begin(candidate, force=force)
    step = run_step(candidate, status, gated=False, prune=prune, on_status=on_status)
    while not step.finished:
        step = run_step(
            candidate, step.status, gated=True, resume_after=step.resume_after, prune=prune, on_status=on_status
        )
    if step.status.state != "active":
        raise _error_for(step.status)
    return step.status


def request_activation(candidate: EmbeddingModel, *, force: bool = False, prune: bool = False) -> ActivationStatus:
    """Queue the activation on the embed workers (the admin's action); returns its queued status."""
    from embeddings.tasks import activate_model_task

    status = begin(candidate, force=force, hold_seconds=_queue_hold_seconds())
    activate_model_task.delay(candidate.pk, force=force, prune=prune)
    return status


def activation_step(
    candidate: EmbeddingModel, *, force: bool, prune: bool, resume_after: int, gated: bool
) -> StepResult:
    """One worker's share of an activation: it stops well inside the task time limit."""
    status = activation_status(candidate)
    if status is None or (not gated and status.state not in ("queued",)):
        status = ActivationStatus(model_id=candidate.pk, model=candidate.name, state="queued", force=force)
    return run_step(
        candidate,
        status,
        gated=gated,
        resume_after=resume_after,
        prune=prune,
        budget_seconds=settings.CELERY_TASK_SOFT_TIME_LIMIT / 2,
        lease_seconds=_queue_hold_seconds(),
    )


def begin(candidate: EmbeddingModel, *, force: bool = False, hold_seconds: float | None = None) -> ActivationStatus:
    """Record a new activation of ``candidate`` as queued, leased for ``hold_seconds`` (default
    ``ACTIVATION_LEASE_SECONDS``) until a step takes it; refuses one already under way."""
    current = activation_status(candidate)
    if current is not None and current.state in IN_PROGRESS:
        raise ActivationError(f"{candidate.name} is already being activated ({current.line()})")
    status = ActivationStatus(model_id=candidate.pk, model=candidate.name, state="queued", force=force)
    _hold_lease(candidate.pk, settings.ACTIVATION_LEASE_SECONDS if hold_seconds is None else hold_seconds)
    save_status(status)
    return status


def run_step(
    candidate: EmbeddingModel,
    status: ActivationStatus,
    *,
    gated: bool,
    resume_after: int = 0,
    prune: bool = False,
    budget_seconds: float | None = None,
    on_status: StatusCallback | None = None,
    lease_seconds: float | None = None,
) -> StepResult:
    """Gate (unless ``gated``), then embed from ``resume_after`` on until done or past ``budget_seconds``,
    then switch when the pass is over. Errors end the activation and are recorded in its status.

    The step holds the activation's lease, renewed to ``lease_seconds`` (default
    ``ACTIVATION_LEASE_SECONDS``) while it runs; it gives the lease up when the activation ends, and
    leaves it for the next step's queue wait when it does not."""
    finished = True
    try:
        with _LeaseRenewal(candidate.pk, lease_seconds or settings.ACTIVATION_LEASE_SECONDS):
            step = _step(candidate, status, gated, resume_after, prune, budget_seconds, on_status)
        finished = step.finished
        return step
    finally:
        if finished:
            _release_lease(candidate.pk)
        else:
            _hold_lease(candidate.pk, _queue_hold_seconds())


def _step(
    candidate: EmbeddingModel,
    status: ActivationStatus,
    gated: bool,
    resume_after: int,
    prune: bool,
    budget_seconds: float | None,
    on_status: StatusCallback | None,
) -> StepResult:
    def report(state: str, message: str = "") -> None:
        status.state, status.message, status.updated_at = state, message, time.time()
        save_status(status)
        if on_status is not None:
            on_status(status)

    candidate.refresh_from_db()
    if candidate.is_active:
        report("active", "already the active model")
        return StepResult(status, resume_after, finished=True)
    try:
        if not gated:
            report("gating", "checking the candidate against the active model")
            verdict = gate_verdict(candidate)
            if verdict and not status.force:
                raise ActivationRefused(verdict)
            status.to_embed = missing_vectors(candidate).count()
            report("embedding", f"gate overridden: {verdict}" if verdict else "")
        resume_after = embed_pass(
            candidate, status, resume_after, budget_seconds, lambda: report("embedding", status.message)
        )
        if _more_to_embed(candidate, resume_after):
            return StepResult(status, resume_after, finished=False)
        report("switching", "coverage is complete: switching")
        # Web processes encode the new model's queries from its ONNX export: it is there before they switch.
        from embeddings.encoders.onnx_export import export_for_web_processes

        export_for_web_processes(candidate)
        previous = switch_to(candidate)
        message = f"replaced {previous.name}" if previous else "no model was active before"
        if previous is not None and prune:
            vectors = prune_vectors(previous)
            message += f"; pruned {vectors} vectors of {previous.name}"
        # Artworks harvested between the check and the commit were queued for the old model only.
        stragglers = list(pending_artworks(candidate).values_list("pk", flat=True))
        if stragglers:
            enqueue_embedding(stragglers, candidate)
            message += f"; queued {len(stragglers)} artworks that arrived meanwhile"
        report("active", message)
        return StepResult(status, resume_after, finished=True)
    except ActivationRefused as exc:
        report("refused", str(exc))
    except ActivationIncomplete as exc:
        report("incomplete", str(exc))
    except (ActivationError, ModelLoadError) as exc:
        report("failed", str(exc))
    except BaseException as exc:  # an interrupted command too: a status left "embedding" would block a retry
        report("failed", f"{type(exc).__name__}: {exc}" if isinstance(exc, Exception) else "interrupted")
        raise
    return StepResult(status, resume_after, finished=True)


def gate_verdict(candidate: EmbeddingModel) -> str | None:
    """The first refusal among the gate's receivers, or None. No active model: nothing to compare with."""
    active = EmbeddingModel.active()
    if active is None or active.pk == candidate.pk:
        return None
    for _receiver, verdict in activation_gate.send(sender=EmbeddingModel, candidate=candidate, active=active):
        if verdict:
            return str(verdict)
    return None


def missing_vectors(candidate: EmbeddingModel) -> Any:
    """Artworks with an image and no vector under ``candidate``, in primary-key order."""
    has_vector = ArtworkEmbedding.objects.filter(model=candidate, artwork=OuterRef("pk"))
    return Artwork.objects.filter(withdrawn_at=None).exclude(image_id="").exclude(Exists(has_vector)).order_by("pk")


def pending_artworks(candidate: EmbeddingModel) -> Any:
    """Missing vectors under ``candidate`` that have not failed either."""
    return missing_vectors(candidate).exclude(
        Exists(EmbeddingFailure.objects.filter(model=candidate, artwork=OuterRef("pk")))
    )


def embed_pass(
    candidate: EmbeddingModel,
    status: ActivationStatus,
    resume_after: int,
    budget_seconds: float | None,
    on_batch: Callable[[], None],
) -> int:
    """Embed missing artworks after ``resume_after``, batch by batch; returns the last pk handled."""
    from embeddings.pipeline import embed_artworks  # PyTorch: in the worker that embeds, not in web processes

    started = time.monotonic()
    status.embedding_since = status.embedding_since or time.time()
    cache = ImageCache.from_settings()
    batch_size = settings.EMBED_BATCH_SIZE
    while budget_seconds is None or time.monotonic() - started < budget_seconds:
        batch = list(missing_vectors(candidate).filter(pk__gt=resume_after).values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        deadline = None if budget_seconds is None else started + budget_seconds
        result = embed_artworks(batch, candidate, cache=cache, deadline=deadline)
        handled = [pk for pk in batch if pk < min(result.remaining)] if result.remaining else batch
        if not handled:
            break  # the budget ran out before this batch began: the next step starts with it
        resume_after = handled[-1]
        status.done += len(handled)
        status.to_embed = max(status.to_embed, status.done)  # artworks that arrived meanwhile join the pass
        status.embedded += len(result.embedded)
        status.failed += len(result.failed)
        on_batch()
    return resume_after


def coverage(candidate: EmbeddingModel, active: EmbeddingModel | None) -> Coverage:
    with_image = Artwork.objects.exclude(image_id="")
    missing = missing_vectors(candidate)
    has_failure = EmbeddingFailure.objects.filter(model=candidate, artwork=OuterRef("pk"))
    served_but_missing: list[int] = []
    if active is not None and active.pk != candidate.pk:
        served = ArtworkEmbedding.objects.filter(model=active, artwork=OuterRef("pk"))
        served_but_missing = list(
            missing.filter(Exists(served), visible_q()).order_by("pk").values_list("pk", flat=True)[:1000]
        )
    return Coverage(
        with_image=with_image.count(),
        embedded=ArtworkEmbedding.objects.filter(model=candidate).exclude(artwork__image_id="").count(),
        pending=missing.exclude(Exists(has_failure)).count(),
        failed=missing.filter(Exists(has_failure)).count(),
        served_but_missing=served_but_missing,
    )


def switch_to(candidate: EmbeddingModel) -> EmbeddingModel | None:
    """Make ``candidate`` active if its coverage is complete; returns the model it replaced.

    The check and the switch share one transaction, under a lock that serialises switches, so search
    goes from the old model's complete index to the new one's in one commit.
    """
    candidate.ensure_index(m=settings.HNSW_M, ef_construction=settings.HNSW_EF_CONSTRUCTION)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SWITCH_LOCK])
        previous = EmbeddingModel.active()
        found = coverage(candidate, previous)
        if not found.complete:
            raise ActivationIncomplete(_incomplete_message(candidate, previous, found))
        candidate.activate()
    logger.info("model %s is active (was %s)", candidate.name, previous.name if previous else "none")
    return previous if previous is not None and previous.pk != candidate.pk else None


def prune_vectors(model: EmbeddingModel) -> int:
    """Delete an inactive model's vectors, failures and HNSW index; returns the number of vectors deleted.

    The model stays registered: activating it again embeds everything anew.
    """
    model.refresh_from_db()
    if model.is_active:
        raise ActivationError(f"{model.name} is the active model: activate another one before pruning it")
    current = activation_status(model)
    if current is not None and current.state in IN_PROGRESS:
        raise ActivationError(f"{model.name} is being activated: prune it once that ends")
    model.drop_index()  # deleting rows from a table without the index is much cheaper
    vectors, _ = ArtworkEmbedding.objects.filter(model=model).delete()
    EmbeddingFailure.objects.filter(model=model).delete()
    logger.info("pruned %d vectors of model %s", vectors, model.name)
    return vectors


def activation_status(model: EmbeddingModel) -> ActivationStatus | None:
    """The model's last activation as recorded; one under way whose lease has lapsed reads as failed."""
    try:
        raw = _redis().get(_status_key(model.pk))
    except redis.RedisError:
        logger.warning("cannot read the activation status of %s from Redis", model.name, exc_info=True)
        return None
    if not raw:
        return None
    try:
        status = ActivationStatus(**json.loads(raw))
    except (TypeError, ValueError):
        return None
    if status.state in IN_PROGRESS and not _lease_held(model.pk):
        stage = status.state
        status.state = "failed"
        status.message = f"stopped while {stage}: the process running it ended without finishing; activate it again"
    return status


def save_status(status: ActivationStatus) -> None:
    try:
        _redis().set(_status_key(status.model_id), json.dumps(asdict(status)), ex=STATUS_TTL_SECONDS)
    except redis.RedisError:
        # Progress display is a convenience: losing it must not stop an activation.
        logger.warning("cannot store the activation status of %s in Redis", status.model, exc_info=True)


def _more_to_embed(candidate: EmbeddingModel, resume_after: int) -> bool:
    return missing_vectors(candidate).filter(pk__gt=resume_after).exists()


def _incomplete_message(candidate: EmbeddingModel, previous: EmbeddingModel | None, found: Coverage) -> str:
    parts = []
    if found.pending:
        parts.append(f"{found.pending} artworks still pending")
    if found.served_but_missing:
        shown = ", ".join(str(pk) for pk in found.served_but_missing[:20])
        parts.append(
            f"{len(found.served_but_missing)} artworks that {previous.name if previous else 'search'} serves "
            f"could not be embedded (artwork ids {shown}; see embedding failures)"
        )
    if not parts:
        parts.append("no artwork could be embedded")
    return f"{candidate.name} was not activated: " + "; ".join(parts)


def _error_for(status: ActivationStatus) -> ActivationError:
    if status.state == "refused":
        return ActivationRefused(status.message)
    if status.state == "incomplete":
        return ActivationIncomplete(status.message)
    return ActivationError(status.message or f"activation ended as {status.state}")


def _queue_hold_seconds() -> float:
    # How long a step may wait on the embed queue, allowing for a worker that died whole: its step is
    # redelivered after the visibility timeout, then may queue behind a task as long as the time limit.
    return float(settings.CELERY_VISIBILITY_TIMEOUT + settings.CELERY_TASK_TIME_LIMIT)


class _LeaseRenewal:
    """Holds an activation's lease for ``seconds`` and renews it from a thread every third of
    ``ACTIVATION_LEASE_SECONDS``, for as long as the block runs."""

    def __init__(self, model_id: int, seconds: float) -> None:
        self.model_id, self.seconds = model_id, seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"activation-lease-{model_id}", daemon=True)

    def __enter__(self) -> _LeaseRenewal:
        _hold_lease(self.model_id, self.seconds)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stopped.set()
        self._thread.join()

    def _renew(self) -> None:
        while not self._stopped.wait(settings.ACTIVATION_LEASE_SECONDS / 3):
            _hold_lease(self.model_id, self.seconds)


def _hold_lease(model_id: int, seconds: float) -> None:
    try:
        _redis().set(_lease_key(model_id), "held", ex=max(1, math.ceil(seconds)))
    except redis.RedisError:
        logger.warning("cannot renew the activation lease of model %s in Redis", model_id, exc_info=True)


def _release_lease(model_id: int) -> None:
    try:
        _redis().delete(_lease_key(model_id))
    except redis.RedisError:
        logger.warning("cannot release the activation lease of model %s in Redis", model_id, exc_info=True)


def _lease_held(model_id: int) -> bool:
    try:
        return bool(_redis().exists(_lease_key(model_id)))
    except redis.RedisError:
        return True  # unknown: an activation that may be running is not declared dead


def _status_key(model_id: int) -> str:
    return f"activation:{model_id}"


def _lease_key(model_id: int) -> str:
    return f"activation-lease:{model_id}"


def _redis() -> redis.Redis:
    return redis_client(settings.REDIS_URL, timeout=WORKER_TIMEOUT_SECONDS)
