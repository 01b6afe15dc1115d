from __future__ import annotations

from celery import shared_task

from catalog.harvest import sync_from_api


@shared_task
def sync_aic_task(full: bool = False, limit: int | None = None) -> int:
    """Run one harvest; returns the SyncRun id."""
    return sync_from_api(full=full, limit=limit).pk
