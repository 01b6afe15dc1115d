from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from embeddings.activation.errors import ActivationError
from embeddings.activation.service import activate
from embeddings.encoders.registry import register_model
from embeddings.encoders.types import ModelLoadError


class Command(BaseCommand):
    help = "Register an open_clip model (inactive) from a pretrained tag or a checkpoint path."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--model", required=True, help="open_clip architecture, e.g. ViT-B-32")
        parser.add_argument("--pretrained", required=True, help="pretrained tag (laion2b_s34b_b79k) or checkpoint path")
        parser.add_argument(
            "--activate",
            action="store_true",
            help="then activate it, as activate_model does (embed first, then switch)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            model = register_model(options["name"], options["model"], options["pretrained"])
        except ModelLoadError as exc:
            raise CommandError(str(exc)) from None
        if options["activate"]:
            # Through the activation, so search never switches to a model with half its vectors.
            try:
                activate(model, on_status=lambda status: self.stdout.write(status.line()))
            except ActivationError as exc:
                raise CommandError(f"registered {model.name}, but did not activate it: {exc}") from None
            model.refresh_from_db()
        state = "active" if model.is_active else "inactive"
        self.stdout.write(
            f"registered {model.name}: {model.architecture} {model.pretrained} ({model.dimension}-d, {state})"
        )
