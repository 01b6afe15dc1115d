from __future__ import annotations

from celery import shared_task
from django.conf import settings

from catalog.harvest import sync_from_api
from catalog.models import SyncRun
from catalog.word_leaders import rebuild_after_bulk_load
from core.retry import RETRY_TRANSIENT_ERRORS


def harvest_budget_seconds() -> float:
    """How long one task walks before it hands the walk on: half the soft time limit, which leaves
    the other half for a page that is slow to come (AIC's retries and Retry-After)."""
    return settings.CELERY_TASK_SOFT_TIME_LIMIT / 2


@shared_task(**RETRY_TRANSIENT_ERRORS)
def sync_aic_task(full: bool = False, limit: int | None = None) -> int:
    """Run (or continue) one harvest walk for a task's time budget; returns the SyncRun id.

    A walk longer than that is saved after every page and queued again to continue from there. A
    database outage retries the task (the harvest lock keeps a retry from overlapping a run still
    in progress). A full walk, once complete, rebuilds the keyword lists, listing the words that
    have become frequent since the last rebuild."""
    run = sync_from_api(full=full, limit=limit, budget_seconds=harvest_budget_seconds())
    if run.status == SyncRun.Status.RUNNING:
        sync_aic_task.delay(full=full)
        return run.pk
    rebuild_after_bulk_load(run)
    return run.pk
