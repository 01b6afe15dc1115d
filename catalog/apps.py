from __future__ import annotations

from django.apps import AppConfig


def _create_schedules() -> None:
    from catalog.schedules import ensure_harvest_schedules

    ensure_harvest_schedules()


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from core.schedules import create_after_migrate

        create_after_migrate(_create_schedules, dispatch_uid="catalog.harvest_schedules")
