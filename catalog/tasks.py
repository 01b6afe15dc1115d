from __future__ import annotations

from celery import shared_task

from catalog.harvest import sync_from_api
from museum_site.celery import RETRY_TRANSIENT_ERRORS


@shared_task(**RETRY_TRANSIENT_ERRORS)
def sync_aic_task(full: bool = False, limit: int | None = None) -> int:
    """Run one harvest; returns the SyncRun id. A database outage retries the run (the advisory lock
    keeps a retry from overlapping a run still in progress)."""
    return sync_from_api(full=full, limit=limit).pk
