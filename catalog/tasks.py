from __future__ import annotations

from celery import shared_task

from catalog.harvest import sync_from_api
from catalog.word_leaders import rebuild_after_bulk_load
from museum_site.celery import RETRY_TRANSIENT_ERRORS


@shared_task(**RETRY_TRANSIENT_ERRORS)
def sync_aic_task(full: bool = False, limit: int | None = None) -> int:
    """Run one harvest; returns the SyncRun id. A database outage retries the run (the advisory lock
    keeps a retry from overlapping a run still in progress). A full harvest then rebuilds the
    keyword lists, listing the words that have become frequent since the last rebuild."""
    run = sync_from_api(full=full, limit=limit)
    rebuild_after_bulk_load(run)
    return run.pk
