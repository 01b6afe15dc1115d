"""The retention task, run by a real worker, deletes the searches older than SEARCH_LOG_DAYS with their
clicks, and keeps the newer ones and theirs."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from conftest import wait_until
from search.models_log import SearchClick, SearchLogEntry
from search.tasks import search_log_retention_task

pytestmark = pytest.mark.django_db(transaction=True)


def _search(query: str, at: datetime) -> SearchLogEntry:
    entry = SearchLogEntry.objects.create(
        search_id=uuid.uuid4(), query=query, mode="hybrid", result_count=5, page=1, source="page", created_at=at
    )
    SearchClick.objects.create(click_id=uuid.uuid4(), search=entry, aic_id=27992, rank=2, created_at=at)
    return entry


def test_retention_deletes_old_entries_and_keeps_new_ones(celery_worker: Any) -> None:
    now = timezone.now()
    days = settings.SEARCH_LOG_DAYS  # the worker reads the same environment
    _search("expired", now - timedelta(days=days, hours=1))
    _search("also expired", now - timedelta(days=days + 30))
    kept = [_search("recent", now - timedelta(days=days) + timedelta(hours=1)), _search("today", now)]

    search_log_retention_task.delay()
    wait_until(lambda: SearchLogEntry.objects.count() == 2, timeout=30)

    assert set(SearchLogEntry.objects.values_list("pk", flat=True)) == {entry.pk for entry in kept}
    assert set(SearchClick.objects.values_list("search__query", flat=True)) == {"recent", "today"}
