from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from embeddings.encoders.types import ModelLoadError
from embeddings.models import EmbeddingModel


class Command(BaseCommand):
    help = (
        "Export models' text and image towers to ONNX, for web processes to encode queries without PyTorch "
        "(done at registration and activation; this is for models registered before, or after a failure)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="model names (default: the active model)")
        parser.add_argument("--all", action="store_true", help="every registered model")

    def handle(self, *args: Any, **options: Any) -> None:
        from embeddings.encoders.image_onnx import find_image_export
        from embeddings.encoders.onnx_export import ExportError, export_image_tower, export_text_tower
        from embeddings.encoders.text_onnx import find_export

        if options["all"]:
            models = list(EmbeddingModel.objects.order_by("name"))
        elif options["names"]:
            models = list(EmbeddingModel.objects.filter(name__in=options["names"]).order_by("name"))
            missing = set(options["names"]) - {model.name for model in models}
            if missing:
                raise CommandError(f"no model named {', '.join(sorted(missing))}")
        else:
            models = list(EmbeddingModel.objects.filter(is_active=True))
            if not models:
                raise CommandError("no model is active: name one, or use --all")
        failed = []
        for model in models:
            for tower, find, export in (
                ("text", find_export, export_text_tower),
                ("image", find_image_export, export_image_tower),
            ):
                had = find(model) is not None
                try:
                    folder = export(model).folder
                except (ExportError, ModelLoadError) as exc:
                    failed.append(f"{model.name} ({tower})")
                    self.stderr.write(f"{model.name}: {tower} tower not exported: {exc}")
                    continue
                state = "already exported" if had else "exported"
                self.stdout.write(f"{model.name}: {tower} tower {state} to {folder}")
        if failed:
            raise CommandError(f"{len(failed)} of {2 * len(models)} towers not exported: {', '.join(failed)}")
