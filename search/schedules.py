"""The search log's periodic tasks (django-celery-beat): created once from their settings, then the curators'."""

from __future__ import annotations

from django.conf import settings

from core.schedules import ensure_periodic_task

FLUSH_TASK = "search.tasks.flush_search_log_task"
FLUSH_SCHEDULE_NAME = "search-log-flush"
RETENTION_TASK = "search.tasks.search_log_retention_task"
RETENTION_SCHEDULE_NAME = "search-log-retention"
DAY_SECONDS = 24 * 60 * 60


def ensure_search_log_schedules() -> None:
    """The flush every SEARCH_LOG_FLUSH_SECONDS and the retention daily, each created if missing."""
    ensure_periodic_task(
        FLUSH_SCHEDULE_NAME,
        FLUSH_TASK,
        settings.SEARCH_LOG_FLUSH_SECONDS,
        "Move buffered searches and clicks from Redis into the search log (created from SEARCH_LOG_FLUSH_SECONDS).",
    )
    ensure_periodic_task(
        RETENTION_SCHEDULE_NAME,
        RETENTION_TASK,
        DAY_SECONDS,
        "Delete search log entries older than SEARCH_LOG_DAYS, with their clicks.",
    )
