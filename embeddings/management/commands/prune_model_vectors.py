from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from embeddings.activation.errors import ActivationError
from embeddings.activation.pruning import prune_vectors
from embeddings.management.model_argument import resolve_model


class Command(BaseCommand):
    help = "Delete an inactive model's vectors, embedding failures and HNSW index (the model stays registered)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        model = resolve_model(options["name"])
        try:
            vectors = prune_vectors(model)
        except ActivationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"pruned {vectors} vectors of {model.name}")
