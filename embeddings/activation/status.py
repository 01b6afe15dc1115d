"""Where an activation stands, kept in Redis for the admin and the jobs dashboard."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field

import redis
from django.conf import settings

from core.redis_clients import WORKER_TIMEOUT_SECONDS, redis_client
from embeddings.activation.lease import lease_held
from embeddings.activation.states import IN_PROGRESS, ActivationState
from embeddings.models import EmbeddingModel

logger = logging.getLogger(__name__)

STATUS_TTL_SECONDS = 7 * 24 * 3600


@dataclass
class ActivationStatus:
    """Where an activation stands (kept in Redis; the admin reads it)."""

    model_id: int
    model: str
    state: ActivationState
    force: bool = False
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    embedding_since: float = 0.0  # when the first batch started (the gate and the queue are not in the ETA)
    to_embed: int = 0  # artworks the pass found without a vector when it started (and any that arrived since)
    done: int = 0  # of those, how many it has handled (embedded or failed)
    embedded: int = 0
    failed: int = 0
    message: str = ""
    # On the embed queue (``fan_out``): the last artwork pk queued, the token the next watcher step must
    # carry, when ``done`` last moved and when it was last counted, and how often lost work was queued again.
    queued_through: int = 0
    watch_token: str = ""
    progress_at: float = 0.0
    measured_at: float = 0.0
    requeued: int = 0

    def __post_init__(self) -> None:
        self.state = ActivationState(self.state)  # read back from JSON as a plain string

    @property
    def eta_seconds(self) -> float | None:
        if self.state != ActivationState.EMBEDDING or not self.done or self.done >= self.to_embed:
            return None
        return (time.time() - self.embedding_since) / self.done * (self.to_embed - self.done)

    def line(self) -> str:
        text = f"{self.model}: {self.state}"
        if self.to_embed:
            text += f", {self.done}/{self.to_embed} artworks handled ({self.embedded} embedded, {self.failed} failed)"
        if (eta := self.eta_seconds) is not None:
            text += f", about {eta:.0f} s left"
        return f"{text}. {self.message}" if self.message else text


def activation_status(model: EmbeddingModel) -> ActivationStatus | None:
    """The model's last activation as recorded; one under way whose lease has lapsed reads as failed."""
    try:
        return recorded_status(model)
    except redis.RedisError:
        logger.warning("cannot read the activation status of %s from Redis", model.name, exc_info=True)
        return None


def recorded_status(model: EmbeddingModel) -> ActivationStatus | None:
    """As ``activation_status``, but Redis errors are raised: for a step that must not take Redis
    being away for an activation that is not there."""
    raw = _redis().get(_status_key(model.pk))
    if not raw:
        return None
    try:
        status = ActivationStatus(**json.loads(raw))
    except (TypeError, ValueError):
        return None
    if status.state in IN_PROGRESS and not lease_held(model.pk):
        stage = status.state
        status.state = ActivationState.FAILED
        status.message = f"stopped while {stage}: the process running it ended without finishing; activate it again"
    return status


def save_status(status: ActivationStatus, *, strict: bool = False) -> None:
    """Store ``status``; a Redis error is logged, or raised when ``strict`` (a step whose successor
    depends on what it stores)."""
    try:
        _redis().set(_status_key(status.model_id), json.dumps(asdict(status)), ex=STATUS_TTL_SECONDS)
    except redis.RedisError:
        if strict:
            raise
        # Progress display is a convenience: losing it must not stop an activation.
        logger.warning("cannot store the activation status of %s in Redis", status.model, exc_info=True)


def _status_key(model_id: int) -> str:
    return f"activation:{model_id}"


def _redis() -> redis.Redis:
    return redis_client(settings.REDIS_URL, timeout=WORKER_TIMEOUT_SECONDS)
