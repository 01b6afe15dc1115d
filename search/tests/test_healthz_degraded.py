"""/healthz says "degraded" (200: a warning, not an outage) when the last complete sync is older than
two harvest intervals, "ok" while harvesting is paused, and reports the sync's state either way."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from catalog.models import SyncRun
from catalog.schedules import set_harvest_paused
from catalog.sync_status import HARVEST_SCHEDULE_NAME
from museum_site.tests.sync_state_rows import active_model, sync_run

H = timedelta(hours=1)


@pytest.fixture
def hourly(db: None) -> PeriodicTask:
    """The harvest schedule every hour, whatever AIC_SYNC_INTERVAL_SECONDS the suite runs with."""
    active_model()
    task = PeriodicTask.objects.get(name=HARVEST_SCHEDULE_NAME)
    task.interval, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)
    task.save()
    return task


def _finished(ago: timedelta) -> SyncRun:
    return sync_run(started_ago=ago + H, finished_ago=ago, status=SyncRun.Status.SUCCEEDED)


def test_a_sync_older_than_two_intervals_is_degraded_not_down(client: Client, hourly: PeriodicTask) -> None:
    _finished(3 * H)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["reason"] == "the last complete sync finished 3 h ago, more than 2 harvest intervals (2 h)"
    assert body["database"] == body["broker"] == "ok"


def test_a_recent_sync_is_ok_and_reported(client: Client, hourly: PeriodicTask, settings: Any) -> None:
    settings.AIC_PAGE_SIZE = 100
    now = timezone.now()
    last = sync_run(
        started_ago=2 * H,
        finished_ago=90 * timedelta(minutes=1),
        status=SyncRun.Status.PARTIAL,
        cursor=now - 6 * H,
    )
    walk = sync_run(
        started_ago=timedelta(seconds=200),
        status=SyncRun.Status.RUNNING,
        page=5,
        total_pages=25,
        seen=500,
        tasks=1,
        source_newest=now - 5 * H,
    )
    SyncRun.objects.filter(pk=walk.pk).update(checkpoint_at=walk.started_at + timedelta(seconds=100))

    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["reason"] is None
    sync = body["sync"]
    assert sync["harvest"] == "scheduled" and sync["interval_seconds"] == 3600
    assert last.finished_at is not None and sync["last_complete"] == last.finished_at.isoformat()
    assert sync["last_complete_age_seconds"] == pytest.approx(90 * 60, abs=60)
    assert sync["lag_seconds"] == 3600
    running = sync["running"]
    assert (running["run"], running["page"], running["total_pages"], running["seen"]) == (walk.pk, 5, 25, 500)
    assert running["records_per_second"] == 5
    assert running["seconds_left"] == 20 * 100 / 5  # 20 pages of 100 records at 5 records/s


def test_the_interval_is_the_schedule_the_curators_set(client: Client, hourly: PeriodicTask) -> None:
    _finished(3 * H)
    hourly.interval, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.HOURS)
    hourly.save()
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["sync"]["interval_seconds"] == 7200


def test_without_an_interval_it_falls_back_to_the_setting(client: Client, hourly: PeriodicTask, settings: Any) -> None:
    _finished(3 * H)
    hourly.interval = None
    hourly.crontab = CrontabSchedule.objects.create(minute="0", hour="*/6")
    hourly.save()
    settings.AIC_SYNC_INTERVAL_SECONDS = 600
    body = client.get("/healthz").json()
    assert body["status"] == "degraded" and body["sync"]["interval_seconds"] == 600
    assert "more than 2 harvest intervals (20 min)" in body["reason"]


def test_a_paused_harvest_is_not_degraded_but_says_paused(client: Client, hourly: PeriodicTask) -> None:
    _finished(30 * 24 * H)
    set_harvest_paused(True)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["reason"] is None
    assert body["sync"]["harvest"] == "paused"
    assert body["sync"]["last_complete_age_seconds"] == pytest.approx(30 * 24 * 3600, abs=60)


def test_no_sync_ever_is_degraded(client: Client, hourly: PeriodicTask) -> None:
    sync_run(started_ago=H, finished_ago=H, status=SyncRun.Status.FAILED)
    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["reason"] == "no harvest or import has completed yet"
    assert body["sync"]["last_complete"] is None and body["sync"]["running"] is None


def test_an_outage_still_answers_503(client: Client, hourly: PeriodicTask, settings: Any) -> None:
    _finished(3 * H)
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["reason"].startswith("the last complete sync finished 3 h ago")
