from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.db import connections
from django.db.models.signals import post_migrate


def _create_harvest_schedule(using: str = "default", **kwargs: Any) -> None:
    from django_celery_beat.models import PeriodicTask

    from museum_site.schedules import ensure_harvest_schedule

    # A partial migrate may stop before django-celery-beat's tables exist.
    if PeriodicTask._meta.db_table in connections[using].introspection.table_names():
        ensure_harvest_schedule()


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        from search import receivers  # noqa: F401  (connects them)

        # After every migrate and every flush (the tests'), so beat always has a harvest to schedule. Django
        # sends post_migrate once per app that has models; this app has none, so listen for beat's.
        post_migrate.connect(
            _create_harvest_schedule,
            sender=apps.get_app_config("django_celery_beat"),
            dispatch_uid="search.harvest_schedule",
        )
