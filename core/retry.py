"""Which failures a Celery task waits out and tries again, and how it spaces its tries."""

from __future__ import annotations

from typing import Any

import psycopg
import redis
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

from core.artifacts import StoreUnavailable

# Failures that end by themselves: PostgreSQL, Redis or the artifact store restarting, a dropped
# connection. A task that meets one is sent again later (exponential backoff with jitter, at most
# 5 minutes apart, 20 times over up to about an hour) instead of failing; tasks are idempotent, so
# running one again is safe.
# https://docs.celeryq.dev/en/stable/userguide/tasks.html#automatic-retry-for-known-exceptions
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,  # raised as-is by code that uses the psycopg connection directly (COPY)
    psycopg.InterfaceError,
    redis.ConnectionError,
    redis.TimeoutError,
    BrokerOperationalError,
    StoreUnavailable,  # the artifact store unreachable: the images and weights it holds are not lost
)
RETRY_TRANSIENT_ERRORS: dict[str, Any] = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 20,
}
