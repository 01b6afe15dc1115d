"""The harvest's schedules (django-celery-beat), and pausing them.

The harvest (new and changed records) and the reconcile (a full walk) schedules are created from their
settings the first time the database is migrated (and after a flush). From then on they are the
curators': they edit an interval in the admin, or pause and resume the harvest on the jobs dashboard,
and beat follows without a restart.
"""

from __future__ import annotations

from django.conf import settings
from django_celery_beat.models import PeriodicTask

from catalog.sync_status import HARVEST_SCHEDULE_NAME, HARVEST_TASK
from core.schedules import ensure_periodic_task

RECONCILE_SCHEDULE_NAME = "reconcile-aic"


def ensure_harvest_schedules() -> PeriodicTask:
    """The harvest every AIC_SYNC_INTERVAL_SECONDS and a full walk (reconcile) every
    AIC_RECONCILE_INTERVAL_SECONDS, each created if missing. Returns the harvest's."""
    ensure_periodic_task(
        RECONCILE_SCHEDULE_NAME,
        HARVEST_TASK,
        settings.AIC_RECONCILE_INTERVAL_SECONDS,
        "Walk the whole AIC collection: store what changed, withdraw what AIC no longer lists "
        "(created from AIC_RECONCILE_INTERVAL_SECONDS).",
        kwargs='{"full": true}',
    )
    harvest: PeriodicTask = ensure_periodic_task(
        HARVEST_SCHEDULE_NAME,
        HARVEST_TASK,
        settings.AIC_SYNC_INTERVAL_SECONDS,
        "Harvest new and changed AIC records (created from AIC_SYNC_INTERVAL_SECONDS).",
    )
    return harvest


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
