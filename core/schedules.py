"""Periodic tasks kept in the database (django-celery-beat), created once and then the curators' to edit.

Each app owns its schedules and creates them after every migrate (and every flush, the tests'), so beat
always has them. An existing schedule is left exactly as the curators set it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import connections, transaction
from django.db.models.signals import post_migrate


def ensure_periodic_task(name: str, task: str, every: int, description: str, kwargs: str = "{}") -> Any:
    """The periodic task ``name``, created (enabled, every ``every`` seconds) if it is missing."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    with transaction.atomic():
        existing = PeriodicTask.objects.filter(name=name).first()
        if existing is not None:
            return existing
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.SECONDS)
        return PeriodicTask.objects.create(
            name=name, task=task, interval=interval, kwargs=kwargs, enabled=True, description=description
        )


def create_after_migrate(create: Callable[[], object], dispatch_uid: str) -> None:
    """Run ``create`` after every migrate of django-celery-beat's tables (call from an AppConfig.ready)."""

    def receiver(using: str = "default", **kwargs: Any) -> None:
        from django_celery_beat.models import PeriodicTask

        # A partial migrate may stop before django-celery-beat's tables exist.
        if PeriodicTask._meta.db_table in connections[using].introspection.table_names():
            create()

    # Django sends post_migrate once per app that has models: beat's is the one after which its tables exist.
    post_migrate.connect(
        receiver, sender=apps.get_app_config("django_celery_beat"), dispatch_uid=dispatch_uid, weak=False
    )
