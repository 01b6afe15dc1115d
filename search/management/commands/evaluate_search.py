from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from embeddings.management.model_argument import resolve_model
from search.evaluation.judgments import JudgmentError, load_judged_queries
from search.evaluation.reports import evaluate
from search.evaluation.runs import MRR, NDCG, RECALL
from search.types import Mode, SearchError

DEFAULT_QUERIES = Path(__file__).resolve().parents[2] / "judged" / "queries.jsonl"


class Command(BaseCommand):
    help = (
        "Measure search quality on a judged query set: nDCG@10, recall@24 and MRR per mode and per kind of "
        "query, through the ranking the API uses (caches bypassed). Stores the report (shown in the admin) "
        "and prints, as its last line, one JSON object of the figures per mode."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES, help="JSON Lines of judged queries")
        parser.add_argument("--mode", choices=[*(m.value for m in Mode), "all"], default="all")
        parser.add_argument("--model", help="registered model for semantic and hybrid (default: the active one)")
        parser.add_argument("--worst", type=int, default=10, help="how many of the worst queries to list per mode")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            queries = load_judged_queries(options["queries"])
        except (OSError, JudgmentError) as exc:
            raise CommandError(str(exc)) from None
        modes = list(Mode) if options["mode"] == "all" else [Mode(options["mode"])]
        needs_model = any(mode != Mode.KEYWORD for mode in modes)
        model = resolve_model(options["model"]) if needs_model else None
        try:
            report = evaluate(
                queries,
                modes,
                model,
                queries_file=options["queries"],
                worst_count=max(0, options["worst"]),
                progress=self.stderr.write,
            )
        except SearchError as exc:
            raise CommandError(exc.message) from None
        metrics = (NDCG, RECALL, MRR)
        self.stdout.write(f"{len(queries)} queries from {options['queries']}; model: {report.model_name or 'none'}")
        self.stdout.write(f"{'mode / kind':<34}{'queries':>8}" + "".join(f"{name:>11}" for name in metrics))
        for mode, figures in report.modes.items():
            self.stdout.write(f"{mode:<34}{len(queries):>8}" + "".join(f"{figures[n]:>11.3f}" for n in metrics))
            for kind, by_kind in report.kinds[mode].items():
                label = f"  {kind}"
                self.stdout.write(
                    f"{label:<34}{by_kind['queries']:>8}" + "".join(f"{by_kind[n]:>11.3f}" for n in metrics)
                )
        for mode, entries in report.worst.items():
            self.stdout.write(f"worst in {mode}:")
            for entry in entries:
                first = entry["first_relevant_rank"] or "-"
                self.stdout.write(
                    f"  {entry[NDCG]:.3f}  first relevant {first!s:>3}  [{entry['kind']}] {entry['query']!r}"
                    f"  top: {entry['top']}"
                )
        self.stdout.write(f"report {report.pk} stored")
        self.stdout.write(json.dumps(report.summary(), sort_keys=False))
