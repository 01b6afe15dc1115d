"""Registrations of models queued from the admin: each one's state (queued, registered, failed) kept in
Redis for the model list, and the step an embed worker runs to register one.

The admin runs in web processes, which have no PyTorch: loading the weights, measuring the dimension
and exporting the towers to ONNX (``encoders.registry.register_model``) happen on a worker.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum

import redis
from django.conf import settings

from core.redis_clients import WORKER_TIMEOUT_SECONDS, redis_client
from core.retry import TRANSIENT_ERRORS
from embeddings.encoders.types import ModelLoadError
from embeddings.models import EmbeddingModel

logger = logging.getLogger(__name__)

STATUS_TTL_SECONDS = 7 * 24 * 3600
_KEY_PREFIX = "model-registration:"


class RegistrationState(StrEnum):
    QUEUED = "queued"
    REGISTERED = "registered"
    FAILED = "failed"


@dataclass
class RegistrationStatus:
    """Where one registration stands, under the name it registers."""

    name: str
    architecture: str
    pretrained: str
    state: RegistrationState
    message: str = ""
    queued_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.state = RegistrationState(self.state)  # read back from JSON as a plain string

    def line(self) -> str:
        text = f"Registration of {self.name} ({self.architecture}, {self.pretrained}): {self.state}"
        if self.state == RegistrationState.QUEUED:
            text += "; the model appears in this list once a worker has loaded its weights"
        return f"{text}: {self.message}" if self.message else text


class RegistrationRefused(ValueError):
    """The registration cannot go ahead; its message says why."""


def queue_registration(
    name: str, architecture: str, pretrained: str, notes: str, send: Callable[[], None]
) -> RegistrationStatus:
    """Record the registration as queued, then ``send`` the task that carries it out. Queued again under
    the same name (after a failure), the new status replaces the old one."""
    status = RegistrationStatus(name, architecture, pretrained, RegistrationState.QUEUED)
    save_registration(status)
    try:
        send()
    except TRANSIENT_ERRORS as exc:
        # The broker is away: nothing was queued, and the list must not show it waiting for a worker.
        status.state, status.message, status.updated_at = RegistrationState.FAILED, f"not queued: {exc}", time.time()
        save_registration(status)
        raise
    return status


def register_queued(name: str, architecture: str, pretrained: str, notes: str = "") -> RegistrationStatus:
    """Register the model (weights checked, row created, towers exported) and record the outcome.

    Safe to run twice (a redelivered task): a row of that name with the same weights is the one this
    registration made. A row of that name with other weights is never changed: its vectors would then
    be mixed with another model's under one name."""
    from embeddings.encoders.registry import register_model

    status = RegistrationStatus(name, architecture, pretrained, RegistrationState.QUEUED)
    if (recorded := registration(name)) is not None:
        status.queued_at = recorded.queued_at
    try:
        existing = EmbeddingModel.objects.filter(name=name).first()
        if existing is not None and (existing.architecture, existing.pretrained) != (architecture, pretrained):
            raise RegistrationRefused(
                f"a model named {name} is already registered with {existing.architecture} {existing.pretrained}"
            )
        model = register_model(name, architecture, pretrained, notes=notes)
    except (ModelLoadError, RegistrationRefused) as exc:
        _finish(status, RegistrationState.FAILED, str(exc))
        return status
    except TRANSIENT_ERRORS:
        raise  # the task tries again; the registration stays queued
    except Exception as exc:
        _finish(status, RegistrationState.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    _finish(status, RegistrationState.REGISTERED, f"{model.dimension}-d")
    return status


def _finish(status: RegistrationStatus, state: RegistrationState, message: str) -> None:
    status.state = state
    status.message = message
    status.updated_at = time.time()
    save_registration(status)


def save_registration(status: RegistrationStatus) -> None:
    _redis().set(_KEY_PREFIX + status.name, json.dumps(asdict(status)), ex=STATUS_TTL_SECONDS)


def registration(name: str) -> RegistrationStatus | None:
    raw = _redis().get(_KEY_PREFIX + name)
    return _parsed(raw) if raw else None


def open_registrations() -> list[RegistrationStatus]:
    """The registrations queued or failed, newest first; empty (and logged) when Redis is away, so
    that the model list still shows."""
    try:
        client = _redis()
        keys = list(client.scan_iter(match=_KEY_PREFIX + "*", count=500))
        raws = client.mget(keys) if keys else []
    except redis.RedisError:
        logger.warning("cannot read the model registrations from Redis", exc_info=True)
        return []
    statuses = [status for raw in raws if raw and (status := _parsed(raw)) is not None]
    pending = [status for status in statuses if status.state != RegistrationState.REGISTERED]
    return sorted(pending, key=lambda status: status.updated_at, reverse=True)


def _parsed(raw: bytes | str) -> RegistrationStatus | None:
    try:
        return RegistrationStatus(**json.loads(raw))
    except (TypeError, ValueError):
        return None


def _redis() -> redis.Redis:
    return redis_client(settings.REDIS_URL, timeout=WORKER_TIMEOUT_SECONDS)
