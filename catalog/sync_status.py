"""How far the catalog is behind its source: the walk in progress, the last complete sync, the lag.

The jobs dashboard, /metrics and /healthz all read these numbers, so an operator sees one story
wherever they look. Every query here reads SyncRun (one row per harvest or import: thousands a
year, never the size of the collection), beat's harvest schedules, or an indexed column of the
artworks table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from catalog.models import Artwork, SyncRun

# The harvest's Celery task and its beat schedule, as catalog/schedules.py creates them.
HARVEST_TASK = "catalog.tasks.sync_aic_task"
HARVEST_SCHEDULE_NAME = "sync-aic"
COMPLETE = (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL)
# The last complete sync may be this many harvest intervals old before /healthz says "degraded":
# one missed harvest is weather, two is a harvest that has stopped.
STALE_INTERVALS = 2


@dataclass(frozen=True)
class WalkProgress:
    """An API harvest walk in progress (it may span several tasks, each continuing from ``page``).

    ``records_per_second`` is the records stored over the walk's time so far, from its start to its
    last checkpoint (None before the first page is stored); ``seconds_left`` is the pages not yet
    walked, at AIC_PAGE_SIZE records a page, at that rate (None without the page count or a rate).
    """

    run_id: int
    full: bool
    page: int
    total_pages: int | None
    seen: int
    tasks: int
    started_at: datetime
    checkpoint_at: datetime | None
    records_per_second: float | None
    seconds_left: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "full": self.full,
            "page": self.page,
            "total_pages": self.total_pages,
            "seen": self.seen,
            "tasks": self.tasks,
            "started_at": self.started_at.isoformat(),
            "checkpoint_at": self.checkpoint_at.isoformat() if self.checkpoint_at else None,
            "records_per_second": self.records_per_second,
            "seconds_left": self.seconds_left,
        }


def walk_progress(run: SyncRun) -> WalkProgress:
    """The page, rate and estimated time left of ``run``, from its last checkpoint."""
    rate = None
    if run.checkpoint_at is not None:
        elapsed = (run.checkpoint_at - run.started_at).total_seconds()
        if elapsed > 0:
            rate = run.seen / elapsed
    left = None
    if run.total_pages is not None and rate:
        pages_left = max(run.total_pages - run.page, 0)
        left = pages_left * settings.AIC_PAGE_SIZE / rate
    return WalkProgress(
        run_id=run.pk,
        full=run.full,
        page=run.page,
        total_pages=run.total_pages,
        seen=run.seen,
        tasks=run.tasks,
        started_at=run.started_at,
        checkpoint_at=run.checkpoint_at,
        records_per_second=rate,
        seconds_left=left,
    )


def running_walk() -> WalkProgress | None:
    """The newest API walk still running, or None when no walk is in progress."""
    run = SyncRun.objects.filter(status=SyncRun.Status.RUNNING, source="api").order_by("-started_at").first()
    return walk_progress(run) if run is not None else None


def last_complete_sync() -> SyncRun | None:
    """The run (API harvest or dump import) that finished most recently with its records stored
    (succeeded, or partial: some records quarantined); None before the first one."""
    return SyncRun.objects.filter(status__in=COMPLETE, finished_at__isnull=False).order_by("-finished_at").first()


def source_newest() -> datetime | None:
    """The newest ``updated_at`` the source listed, as the newest run that asked it reported."""
    run = SyncRun.objects.exclude(source_newest=None).order_by("-started_at").only("source_newest").first()
    return run.source_newest if run is not None else None


def sync_lag() -> timedelta | None:
    """How far our cursor is behind the newest change the source last reported (never negative).

    None when either is unknown: the source has not been asked yet, or no run has finished and set
    a cursor (then every record is still to come).
    """
    newest = source_newest()
    cursor = SyncRun.last_cursor()
    if newest is None or cursor is None:
        return None
    return max(newest - cursor, timedelta(0))


def withdrawn_count() -> int:
    """Artworks the source no longer lists (served by the index on ``withdrawn_at``)."""
    return Artwork.objects.filter(withdrawn_at__isnull=False).count()


@dataclass(frozen=True)
class HarvestSchedule:
    """How often beat harvests (the ``sync-aic`` task's interval, or AIC_SYNC_INTERVAL_SECONDS when
    it has none: no such task, or a crontab), and whether every harvest schedule is disabled."""

    interval: timedelta
    paused: bool


def harvest_schedule() -> HarvestSchedule:
    schedules = list(PeriodicTask.objects.filter(task=HARVEST_TASK).select_related("interval"))
    interval = timedelta(seconds=settings.AIC_SYNC_INTERVAL_SECONDS)
    for schedule in schedules:
        if schedule.name == HARVEST_SCHEDULE_NAME and schedule.interval is not None:
            # IntervalSchedule periods (days, hours, minutes, seconds, microseconds) are timedelta's words.
            interval = timedelta(**{schedule.interval.period: schedule.interval.every})
    paused = bool(schedules) and not any(schedule.enabled for schedule in schedules)
    return HarvestSchedule(interval=interval, paused=paused)


@dataclass(frozen=True)
class SyncHealth:
    """The sync's part of /healthz: ``degraded`` with a ``reason`` when the last complete sync is
    older than STALE_INTERVALS harvest intervals (or there has been none), unless harvesting is
    paused, which is a curator's choice and reads as such."""

    degraded: bool
    reason: str
    schedule: HarvestSchedule
    last_complete: SyncRun | None
    last_complete_age: timedelta | None
    lag: timedelta | None
    running: WalkProgress | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "harvest": "paused" if self.schedule.paused else "scheduled",
            "interval_seconds": self.schedule.interval.total_seconds(),
            "last_complete": self.last_complete.finished_at.isoformat()
            if self.last_complete is not None and self.last_complete.finished_at is not None
            else None,
            "last_complete_age_seconds": _seconds(self.last_complete_age),
            "lag_seconds": _seconds(self.lag),
            "running": self.running.as_dict() if self.running is not None else None,
        }


def sync_health(now: datetime | None = None) -> SyncHealth:
    now = now or timezone.now()
    schedule = harvest_schedule()
    last = last_complete_sync()
    age = now - last.finished_at if last is not None and last.finished_at is not None else None
    limit = STALE_INTERVALS * schedule.interval
    reason = ""
    if not schedule.paused:
        if age is None:
            reason = "no harvest or import has completed yet"
        elif age > limit:
            reason = (
                f"the last complete sync finished {duration_text(age.total_seconds())} ago, more than "
                f"{STALE_INTERVALS} harvest intervals ({duration_text(limit.total_seconds())})"
            )
    return SyncHealth(
        degraded=bool(reason),
        reason=reason,
        schedule=schedule,
        last_complete=last,
        last_complete_age=age,
        lag=sync_lag(),
        running=running_walk(),
    )


def duration_text(seconds: float) -> str:
    """A duration as people read it, in its largest unit and the next: '45 s', '12 min 5 s', '3 h', '2 d 4 h'."""
    total = max(round(seconds), 0)
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    first = next(index for index, (_, size) in enumerate(units) if total >= size or size == 1)
    name, size = units[first]
    text = f"{total // size} {name}"
    if first + 1 < len(units):
        next_name, next_size = units[first + 1]
        if rest := total % size // next_size:
            text += f" {rest} {next_name}"
    return text


def _seconds(delta: timedelta | None) -> float | None:
    return delta.total_seconds() if delta is not None else None
