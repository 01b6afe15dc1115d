"""Beat's database scheduler, which also touches CELERY_HEARTBEAT_FILE at every tick, so that a container
health check can tell a beat whose loop stopped (`celery beat -S museum_site.beat_scheduler:HeartbeatScheduler`)."""

from __future__ import annotations

from typing import Any

from django_celery_beat.schedulers import DatabaseScheduler

from museum_site.celery import touch_heartbeat_file


class HeartbeatScheduler(DatabaseScheduler):
    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval: float = super().tick(*args, **kwargs)
        touch_heartbeat_file()
        return interval
