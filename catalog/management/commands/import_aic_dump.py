from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.harvest import import_dump
from catalog.models import SyncRun
from catalog.word_leaders import rebuild_after_bulk_load
from core.progress import add_progress_arguments, advance_to, progress_bar


class Command(BaseCommand):
    help = "Import an AIC data dump: a folder of <id>.json files, each one artwork record."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--limit", type=int, default=None, help="import at most N files")
        parser.add_argument(
            "--full",
            action="store_true",
            help="the dump is the whole collection: withdraw the artworks it lacks",
        )
        parser.add_argument(
            "--allow-mass-withdrawal",
            action="store_true",
            help="withdraw even more than AIC_MAX_WITHDRAW_FRACTION of the collection (after checking the dump)",
        )
        add_progress_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["path"]
        total = sum(1 for _ in folder.glob("*.json")) if folder.is_dir() else 0
        if options["limit"] is not None:
            total = min(total, options["limit"])
        with progress_bar(self, options, total=total, unit="files", desc="import") as bar:
            run = import_dump(
                folder,
                limit=options["limit"],
                progress=lambda done: advance_to(bar, done),
                full=options["full"],
                allow_mass_withdrawal=options["allow_mass_withdrawal"],
            )
        self.stdout.write(run.summary())
        if run.withdrawal_held:
            self.stderr.write(run.withdrawal_held)
        for error in run.errors[:20]:
            self.stderr.write(f"  quarantined {error.get('aic_id')}: {error.get('reason')}")
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(f"import failed: {run.errors[-1]['reason'] if run.errors else 'unknown error'}")
        counts = rebuild_after_bulk_load(run)
        if counts is not None:
            self.stdout.write(f"keyword lists: {counts.words} frequent words listed in {counts.seconds:.1f} s")
