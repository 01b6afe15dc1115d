from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.harvest import sync_from_api
from catalog.models import SyncRun
from core.progress import add_progress_arguments, advance_to, progress_bar


class Command(BaseCommand):
    help = "Harvest new and changed artworks from the AIC API (AIC_API_URL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--full",
            action="store_true",
            help="ignore the cursor, page through everything, then withdraw what AIC no longer lists",
        )
        parser.add_argument(
            "--allow-mass-withdrawal",
            action="store_true",
            help="withdraw even more than AIC_MAX_WITHDRAW_FRACTION of the collection (after checking the source)",
        )
        parser.add_argument("--limit", type=int, default=None, help="stop after N records")
        add_progress_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        with progress_bar(self, options, total=options["limit"], unit="records", desc="harvest") as bar:
            run = sync_from_api(
                full=options["full"],
                limit=options["limit"],
                progress=lambda run: advance_to(bar, run.seen),
                allow_mass_withdrawal=options["allow_mass_withdrawal"],
            )
        self.stdout.write(run.summary())
        if run.withdrawal_held:
            self.stderr.write(run.withdrawal_held)
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(f"harvest failed: {run.errors[-1]['reason'] if run.errors else 'unknown error'}")
