"""Periodic schedules kept in the database (django-celery-beat), and pausing the harvest.

The harvest schedule is created from AIC_SYNC_INTERVAL_SECONDS the first time the database is
migrated (and after a flush). From then on it is the curators': they edit its interval in the admin,
or pause and resume it on the jobs dashboard, and beat follows without a restart.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

HARVEST_TASK = "catalog.tasks.sync_aic_task"
HARVEST_SCHEDULE_NAME = "sync-aic"


def ensure_harvest_schedule(**kwargs: Any) -> PeriodicTask:
    """The harvest's periodic task, created (enabled, every AIC_SYNC_INTERVAL_SECONDS) if it is missing.

    Connected to post_migrate; an existing schedule is left exactly as the curators set it.
    """
    with transaction.atomic():
        existing = PeriodicTask.objects.filter(name=HARVEST_SCHEDULE_NAME).first()
        if existing is not None:
            return existing
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=settings.AIC_SYNC_INTERVAL_SECONDS, period=IntervalSchedule.SECONDS
        )
        return PeriodicTask.objects.create(
            name=HARVEST_SCHEDULE_NAME,
            task=HARVEST_TASK,
            interval=interval,
            enabled=True,
            description="Harvest new and changed AIC records (created from AIC_SYNC_INTERVAL_SECONDS).",
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
