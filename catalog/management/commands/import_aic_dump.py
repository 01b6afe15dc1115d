from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.harvest import import_dump
from catalog.management.commands.sync_aic import _summary
from catalog.models import SyncRun


class Command(BaseCommand):
    help = "Import an AIC data dump: a folder of <id>.json files, each one artwork record."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--limit", type=int, default=None, help="import at most N files")

    def handle(self, *args: Any, **options: Any) -> None:
        run = import_dump(options["path"], limit=options["limit"])
        self.stdout.write(_summary(run))
        for error in run.errors[:20]:
            self.stderr.write(f"  quarantined {error.get('aic_id')}: {error.get('reason')}")
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(f"import failed: {run.errors[-1]['reason'] if run.errors else 'unknown error'}")
