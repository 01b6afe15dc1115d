"""The Celery application, configured from Django settings under the CELERY_ prefix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import heartbeat_sent

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "museum_site.settings")

app = Celery("museum_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Task events (received, started, succeeded, failed, and sent by the publisher) for the Prometheus Celery
# exporter of docker-compose.yml: per-task counts and run times, which the queue depths of /metrics lack.
# https://docs.celeryq.dev/en/stable/userguide/monitoring.html#events
app.conf.worker_send_task_events = True
app.conf.task_send_sent_event = True
app.autodiscover_tasks()


def touch_heartbeat_file() -> None:
    """Touch CELERY_HEARTBEAT_FILE, when set: the container's health check reads its age."""
    # Here, not at the top: `python -m museum_site.config_schema` would find it imported by the package.
    from museum_site.config_schema import read_str

    if path := read_str("CELERY_HEARTBEAT_FILE"):
        Path(path).touch()


@heartbeat_sent.connect
def _worker_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    # Sent from the worker's main loop every few seconds while it holds a broker connection.
    touch_heartbeat_file()
