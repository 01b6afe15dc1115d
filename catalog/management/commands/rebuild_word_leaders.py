from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from catalog.word_leaders import rebuild_word_leaders


class Command(BaseCommand):
    help = "List the best-ranked artworks of every frequent word (for the keyword search), replacing the lists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--per-word", type=int, default=None, help="artworks per list (default KEYWORD_LEADERS_PER_WORD)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = rebuild_word_leaders(options["per_word"])
        self.stdout.write(f"{counts.words} frequent words, {counts.leaders} leaders listed in {counts.seconds:.1f} s")
