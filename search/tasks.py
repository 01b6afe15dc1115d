"""The search app's Celery tasks: the search log's flush and retention (search/log.py), on the sync queue."""

from __future__ import annotations

from celery import shared_task

from core.retry import RETRY_TRANSIENT_ERRORS
from search import log


@shared_task(**RETRY_TRANSIENT_ERRORS)
def flush_search_log_task() -> dict[str, int | bool]:
    """Move the buffered searches and clicks from Redis into the database (idempotent)."""
    return log.flush().as_dict()


@shared_task(**RETRY_TRANSIENT_ERRORS)
def search_log_retention_task() -> dict[str, int]:
    """Delete the search log entries older than SEARCH_LOG_DAYS, with their clicks."""
    return {"deleted": log.delete_expired()}
