"""The embedding sweep's schedule (django-celery-beat): created once from its setting, then the curators'."""

from __future__ import annotations

from django.conf import settings

from core.schedules import ensure_periodic_task

SWEEP_TASK = "embeddings.tasks.sweep_task"
SWEEP_SCHEDULE_NAME = "embed-sweep"


def ensure_sweep_schedule() -> object:
    """The sweep every EMBED_SWEEP_INTERVAL_SECONDS, created if missing."""
    return ensure_periodic_task(
        SWEEP_SCHEDULE_NAME,
        SWEEP_TASK,
        settings.EMBED_SWEEP_INTERVAL_SECONDS,
        "Queue images whose transient failure is due for a retry, and artworks whose embedding task was lost "
        "(created from EMBED_SWEEP_INTERVAL_SECONDS).",
    )
