from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from embeddings.indexing import index_counts
from embeddings.management.model_argument import resolve_model


class Command(BaseCommand):
    help = "Print the index counts of a model (default: the active one), as /healthz reports them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", help="EmbeddingModel name (default: the active model)")

    def handle(self, *args: Any, **options: Any) -> None:
        model = resolve_model(options["model"])
        self.stdout.write(json.dumps({"model": model.name, **index_counts(model).as_dict()}))
