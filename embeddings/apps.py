from __future__ import annotations

from django.apps import AppConfig


def _create_schedules() -> None:
    from embeddings.schedules import ensure_sweep_schedule

    ensure_sweep_schedule()


class EmbeddingsConfig(AppConfig):
    name = "embeddings"
    verbose_name = "Embeddings"

    def ready(self) -> None:
        from core.schedules import create_after_migrate
        from embeddings import receivers  # noqa: F401  (connects to catalog signals)

        create_after_migrate(_create_schedules, dispatch_uid="embeddings.sweep_schedule")
