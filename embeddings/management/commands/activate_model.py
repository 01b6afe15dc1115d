from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from embeddings.activation.errors import ActivationError
from embeddings.activation.service import activate, request_activation
from embeddings.activation.states import IN_PROGRESS, ActivationState
from embeddings.activation.status import ActivationStatus, activation_status
from embeddings.management.model_argument import resolve_model
from embeddings.models import EmbeddingModel

FOLLOW_INTERVAL_SECONDS = 1.0


class Command(BaseCommand):
    help = (
        "Make a registered model the one search uses: check it against the active model (evaluation gate), "
        "embed every artwork with it while the active model keeps serving, and switch only when coverage "
        "is complete."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--force",
            action="store_true",
            help="activate without the evaluation gates (test recall@5, then the judged queries' ranking)",
        )
        parser.add_argument("--prune", action="store_true", help="then delete the replaced model's vectors")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="fan the work out over every embed worker and return at once (progress in the admin)",
        )
        parser.add_argument(
            "--wait", action="store_true", help="with --queue: show its progress until it ends, then return"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        model = resolve_model(options["name"])
        if model.is_active:
            self.stdout.write(f"{model.name} is already the active model")
            return
        try:
            if options["queue"]:
                status = request_activation(model, force=options["force"], prune=options["prune"])
                self.stdout.write(f"queued: {status.line()}")
                if not options["wait"]:
                    return
                status = self._follow(model)
                if status.state != ActivationState.ACTIVE:
                    raise CommandError(status.line())
                self.stdout.write(f"{model.name} is now the active model ({status.message})")
                return
            # SIGTERM (a stopped demo, a container shut down) ends the activation as Ctrl-C does: recorded as
            # interrupted, so running the command again is not refused as one already under way.
            previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
            try:
                status = activate(model, force=options["force"], prune=options["prune"], on_status=self._show)
            finally:
                signal.signal(signal.SIGTERM, previous)
        except ActivationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{model.name} is now the active model ({status.message})")

    def _show(self, status: ActivationStatus) -> None:
        self.stdout.write(status.line())

    def _follow(self, model: EmbeddingModel) -> ActivationStatus:
        """Show each new line of a queued activation's status until it ends; returns its last status."""
        shown: tuple[object, ...] = ()
        while True:
            status = activation_status(model)
            if status is None:
                raise CommandError(f"the activation status of {model.name} is gone (Redis lost it)")
            progress = (status.state, status.done, status.to_embed, status.message)  # not the ETA's every tick
            if progress != shown:
                self._show(status)
                shown = progress
            if status.state not in IN_PROGRESS:
                return status
            time.sleep(FOLLOW_INTERVAL_SECONDS)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
