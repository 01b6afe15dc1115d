from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from embeddings.indexing import enqueue_missing
from embeddings.models import EmbeddingModel


class Command(BaseCommand):
    help = "Queue every artwork that has no vector under a model (default: the active one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", help="EmbeddingModel name (default: the active model)")
        parser.add_argument("--batch-size", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        model = resolve_model(options["model"])
        artworks, tasks = enqueue_missing(model, options["batch_size"])
        self.stdout.write(f"queued {artworks} artworks in {tasks} tasks for model {model.name}")


def resolve_model(name: str | None) -> EmbeddingModel:
    if name:
        model = EmbeddingModel.objects.filter(name=name).first()
        if model is None:
            known = ", ".join(EmbeddingModel.objects.values_list("name", flat=True)) or "none registered"
            raise CommandError(f"no model named {name!r} (known: {known})")
        return model
    model = EmbeddingModel.active()
    if model is None:
        raise CommandError("no active model: pass --model NAME or activate one")
    return model
