"""The lease in Redis that tells an activation under way from one whose process died.

While an activation runs, its process holds a lease and renews it every third of
``ACTIVATION_LEASE_SECONDS``. A command killed outright (SIGKILL, the OOM killer, a lost machine) stops
renewing it: within those seconds its activation reads as failed and may be started again. Between the
steps on the embed queue, and while a step runs there, the lease lasts as long as a step may wait to be
delivered or redelivered (``queue_hold_seconds``), since the queue resumes such an activation by itself.
"""

from __future__ import annotations

import logging
import math
import threading
from types import TracebackType

import redis
from django.conf import settings

from core.redis_clients import WORKER_TIMEOUT_SECONDS, redis_client

logger = logging.getLogger(__name__)


def hold_lease(model_id: int, seconds: float) -> None:
    try:
        _redis().set(_lease_key(model_id), "held", ex=max(1, math.ceil(seconds)))
    except redis.RedisError:
        logger.warning("cannot renew the activation lease of model %s in Redis", model_id, exc_info=True)


def release_lease(model_id: int) -> None:
    try:
        _redis().delete(_lease_key(model_id))
    except redis.RedisError:
        logger.warning("cannot release the activation lease of model %s in Redis", model_id, exc_info=True)


def lease_held(model_id: int) -> bool:
    try:
        return bool(_redis().exists(_lease_key(model_id)))
    except redis.RedisError:
        return True  # unknown: an activation that may be running is not declared dead


def queue_hold_seconds() -> float:
    """How long a step may wait on the embed queue, allowing for a worker that died whole: its step is
    redelivered after the visibility timeout, then may queue behind a task as long as the time limit."""
    return float(settings.CELERY_VISIBILITY_TIMEOUT + settings.CELERY_TASK_TIME_LIMIT)


class LeaseRenewal:
    """Holds an activation's lease for ``seconds`` and renews it from a thread every third of
    ``ACTIVATION_LEASE_SECONDS``, for as long as the block runs."""

    def __init__(self, model_id: int, seconds: float) -> None:
        self.model_id, self.seconds = model_id, seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"activation-lease-{model_id}", daemon=True)

    def __enter__(self) -> LeaseRenewal:
        hold_lease(self.model_id, self.seconds)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stopped.set()
        self._thread.join()

    def _renew(self) -> None:
        while not self._stopped.wait(settings.ACTIVATION_LEASE_SECONDS / 3):
            hold_lease(self.model_id, self.seconds)


def _lease_key(model_id: int) -> str:
    return f"activation-lease:{model_id}"


def _redis() -> redis.Redis:
    return redis_client(settings.REDIS_URL, timeout=WORKER_TIMEOUT_SECONDS)
