"""Periodic schedules kept in the database (django-celery-beat), and pausing the harvest.

The harvest, reconcile (a full walk) and embedding-sweep schedules are created from their settings
the first time the database is migrated (and after a flush). From then on it is the curators': they edit its interval in the admin,
or pause and resume it on the jobs dashboard, and beat follows without a restart.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from catalog.sync_status import HARVEST_SCHEDULE_NAME, HARVEST_TASK

__all__ = ["HARVEST_SCHEDULE_NAME", "HARVEST_TASK", "ensure_harvest_schedule", "harvest_paused", "set_harvest_paused"]

RECONCILE_SCHEDULE_NAME = "reconcile-aic"
SWEEP_TASK = "embeddings.tasks.sweep_task"
SWEEP_SCHEDULE_NAME = "embed-sweep"


def ensure_harvest_schedule(**kwargs: Any) -> PeriodicTask:
    """The periodic tasks, each created (enabled) if it is missing: the harvest every
    AIC_SYNC_INTERVAL_SECONDS, a full walk (reconcile) every AIC_RECONCILE_INTERVAL_SECONDS and the
    embedding sweep every EMBED_SWEEP_INTERVAL_SECONDS. Returns the harvest's.

    Connected to post_migrate; an existing schedule is left exactly as the curators set it.
    """
    _ensure(
        RECONCILE_SCHEDULE_NAME,
        HARVEST_TASK,
        settings.AIC_RECONCILE_INTERVAL_SECONDS,
        "Walk the whole AIC collection: store what changed, withdraw what AIC no longer lists "
        "(created from AIC_RECONCILE_INTERVAL_SECONDS).",
        kwargs='{"full": true}',
    )
    _ensure(
        SWEEP_SCHEDULE_NAME,
        SWEEP_TASK,
        settings.EMBED_SWEEP_INTERVAL_SECONDS,
        "Queue images whose transient failure is due for a retry, and artworks whose embedding task was lost "
        "(created from EMBED_SWEEP_INTERVAL_SECONDS).",
    )
    return _ensure(
        HARVEST_SCHEDULE_NAME,
        HARVEST_TASK,
        settings.AIC_SYNC_INTERVAL_SECONDS,
        "Harvest new and changed AIC records (created from AIC_SYNC_INTERVAL_SECONDS).",
    )


def _ensure(name: str, task: str, every: int, description: str, kwargs: str = "{}") -> PeriodicTask:
    with transaction.atomic():
        existing = PeriodicTask.objects.filter(name=name).first()
        if existing is not None:
            return existing
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.SECONDS)
        return PeriodicTask.objects.create(
            name=name, task=task, interval=interval, kwargs=kwargs, enabled=True, description=description
        )


def harvest_schedules() -> list[PeriodicTask]:
    return list(PeriodicTask.objects.filter(task=HARVEST_TASK).select_related("interval", "crontab"))


def harvest_paused() -> bool:
    """Paused when every harvest schedule is disabled (and there is at least one)."""
    schedules = harvest_schedules()
    return bool(schedules) and not any(schedule.enabled for schedule in schedules)


def set_harvest_paused(paused: bool) -> int:
    """Disable (pause) or enable (resume) every harvest schedule; returns how many changed.

    A harvest already running finishes; pausing stops beat from starting new ones.
    """
    changed = 0
    for schedule in harvest_schedules():
        if schedule.enabled == paused:
            schedule.enabled = not paused
            schedule.save()  # save() (not update()) so beat notices the change
            changed += 1
    return changed
