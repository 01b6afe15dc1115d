from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from embeddings.management.commands.embed_missing import resolve_model


class Command(BaseCommand):
    help = "Make a registered model the one search uses."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        model = resolve_model(options["name"])
        model.activate()
        self.stdout.write(f"{model.name} is now the active model")
