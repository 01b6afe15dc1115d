from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.progress import add_progress_arguments, progress_bar
from embeddings.indexing import enqueue_missing, index_counts
from embeddings.management.model_argument import resolve_model
from embeddings.models import EmbeddingModel


class Command(BaseCommand):
    help = "Queue every artwork that has no vector under a model (default: the active one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", help="EmbeddingModel name (default: the active model)")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--wait", action="store_true", help="wait until the workers have handled them all")
        parser.add_argument("--timeout", type=float, default=None, help="with --wait: give up after SECONDS")
        add_progress_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        model = resolve_model(options["model"])
        artworks, tasks = enqueue_missing(model, options["batch_size"])
        self.stdout.write(f"queued {artworks} artworks in {tasks} tasks for model {model.name}")
        if options["wait"] and artworks:
            self.wait_for_workers(model, artworks, options)

    def wait_for_workers(self, model: EmbeddingModel, queued: int, options: dict[str, Any]) -> None:
        """Show the vectors (and failures) arriving until nothing queued is left pending."""
        deadline = None if options["timeout"] is None else time.monotonic() + options["timeout"]
        # Failed artworks are queued again too; they count as handled once they fail again or succeed.
        start = index_counts(model)
        with progress_bar(self, options, total=queued, unit="artworks", desc=f"embed {model.name}") as bar:
            while True:
                now = index_counts(model)
                handled = (now.embedded - start.embedded) + max(now.failed - start.failed, 0)
                bar.update(min(handled, queued) - bar.n)
                if now.pending == 0 and handled >= queued - start.failed:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise CommandError(f"{now.pending} artworks still pending after {options['timeout']} seconds")
                time.sleep(1.0)
        counts = index_counts(model)
        self.stdout.write(f"embedded {counts.embedded}, failed {counts.failed}, pending {counts.pending}")
