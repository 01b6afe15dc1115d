from __future__ import annotations

from django.apps import AppConfig


def _create_schedules() -> None:
    from search.schedules import ensure_search_log_schedules

    ensure_search_log_schedules()


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        from core import dashboard_sections
        from core.schedules import create_after_migrate
        from search import receivers  # noqa: F401  (connects them)
        from search.evaluation import gate  # noqa: F401  (connects the ranking gate of activations)
        from search.log_report import search_log_tables

        create_after_migrate(_create_schedules, dispatch_uid="search.search_log_schedules")
        dashboard_sections.register(search_log_tables)
