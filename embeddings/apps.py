from __future__ import annotations

from django.apps import AppConfig


class EmbeddingsConfig(AppConfig):
    name = "embeddings"
    verbose_name = "Embeddings"

    def ready(self) -> None:
        from embeddings import receivers  # noqa: F401  (connects to catalog signals)
