"""tune_search_weights: sweeps hybrid's fusion constants on the judged query set, cross-validated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from embeddings.management.model_argument import resolve_model
from search.evaluation.judgments import JudgmentError, load_judged_queries
from search.evaluation.runs import MRR, NDCG, RECALL
from search.evaluation.sweep import DEFAULT_FOLDS, sweep
from search.fusion import FusionWeights
from search.management.commands.evaluate_search import DEFAULT_QUERIES
from search.types import SearchError

TOP_SHOWN = 10


def _label(weights: FusionWeights) -> str:
    return f"rrf_k {weights.rrf_k:>3}  keyword {weights.keyword:<5g} semantic {weights.semantic:<5g}"


class Command(BaseCommand):
    help = (
        "Sweep hybrid search's fusion constants (SEARCH_RRF_K, SEARCH_KEYWORD_WEIGHT, SEARCH_SEMANTIC_WEIGHT) "
        "on a judged query set: each query's two lists are read once and fused for every grid point. Prints "
        "the best grid points, the cross-validated nDCG@10 of choosing the best (each fold ranked by the "
        "weights best on the others) against the current settings, and, as its last line, one JSON object."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES, help="JSON Lines of judged queries")
        parser.add_argument("--model", help="registered model for the vector list (default: the active one)")
        parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS, help="cross-validation folds (2 or more)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the deal into folds")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            queries = load_judged_queries(options["queries"])
        except (OSError, JudgmentError) as exc:
            raise CommandError(str(exc)) from None
        folds = options["folds"]
        if not 2 <= folds <= len(queries):
            raise CommandError(f"--folds must be between 2 and the number of queries ({len(queries)}), not {folds}")
        model = resolve_model(options["model"])

        def progress(done: int) -> None:
            if done % 25 == 0 or done == len(queries):
                self.stderr.write(f"{done}/{len(queries)} queries read")

        try:
            result = sweep(queries, model, folds=folds, seed=options["seed"], progress=progress)
        except SearchError as exc:
            raise CommandError(exc.message) from None
        metrics = (NDCG, RECALL, MRR)
        header = "".join(f"{name:>11}" for name in metrics)
        self.stdout.write(f"{len(queries)} queries from {options['queries']}; model: {model.name}")
        self.stdout.write(f"{'best grid points on the whole set':<52}{header}")
        for weights, figures in result.ranked_grid()[:TOP_SHOWN]:
            self.stdout.write(f"{_label(weights):<52}" + "".join(f"{figures[n]:>11.3f}" for n in metrics))
        current = result.figures(result.current)
        self.stdout.write(f"{'current settings: ' + _label(result.current):<52}")
        self.stdout.write(f"{'':<52}" + "".join(f"{current[n]:>11.3f}" for n in metrics))
        self.stdout.write(f"cross-validated over {folds} folds (seed {options['seed']}):")
        for number, fold in enumerate(result.folds, 1):
            self.stdout.write(
                f"  fold {number}: {len(fold.held_out):>4} queries, chosen {_label(fold.chosen)}: "
                f"{NDCG} {fold.chosen_figures[NDCG]:.3f} (current {fold.current_figures[NDCG]:.3f})"
            )
        validated = result.cross_validated()
        self.stdout.write(
            f"  choosing the best: {NDCG} {validated[NDCG]:.3f}, {RECALL} {validated[RECALL]:.3f}, "
            f"{MRR} {validated[MRR]:.3f}; current settings: {NDCG} {current[NDCG]:.3f}"
        )
        self.stdout.write(f"best on the whole set: {_label(result.best)}")
        self.stdout.write(json.dumps(result.as_json(), sort_keys=False))
