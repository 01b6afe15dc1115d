"""The fusion-constant sweep: every grid point of FusionWeights scored on the judged set, cross-validated.

Each query's keyword and vector lists are read from the database once, as ``hybrid_hits`` reads them
(same depth, same filters), with its pins; every grid point then fuses them in Python
(``search.fusion.fuse``) and puts the pins first, as ``ranking.search`` does, so a grid point's
figures are those ``evaluate_search`` would report under those settings.

Choosing the best grid point on the whole set and reporting its figure would report a set learnt by
heart. k-fold cross-validation says what the choice is worth on queries it has not seen: the queries
are dealt into folds (kind by kind, so each fold holds every kind), each fold's queries are ranked by
the grid point best on the other folds, and their figures pooled.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.test.utils import override_settings

from catalog.models import Artwork
from embeddings.models import EmbeddingModel
from search.evaluation.judgments import JudgedQuery
from search.evaluation.metrics import RECALL_K, mean, ndcg_at, recall_at, reciprocal_rank
from search.evaluation.runs import MRR, NDCG, RECALL
from search.fusion import FusionWeights, fuse
from search.keyword import text_matches
from search.query_cache import embed_query
from search.ranking import page_depth, pinned_first
from search.vector import vector_neighbours

RRF_KS = (1, 5, 10, 20, 40, 60, 100)
# Keyword weight over semantic weight; the larger of the two is 1.0, so a curator boost stays worth
# first place in the stronger list. math.inf: the semantic list weighs nothing.
WEIGHT_RATIOS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, math.inf)
DEFAULT_FOLDS = 5


@dataclass(frozen=True)
class QueryLists:
    """One judged query's candidates, read once: its pins (AIC ids, in order) and both ranked lists."""

    judged: JudgedQuery
    pinned: list[int]
    keyword: list[Artwork]
    semantic: list[Artwork]

    def ranked(self, weights: FusionWeights) -> list[int]:
        """AIC ids of the first page under ``weights``: the pins, then the fused lists without them."""
        pinned = set(self.pinned)
        fused = (hit.artwork.aic_id for hit in fuse(self.keyword, self.semantic, self.judged.query, weights))
        rest = [aic_id for aic_id in fused if aic_id not in pinned]
        return (self.pinned + rest)[:RECALL_K]


@dataclass(frozen=True)
class Figures:
    """One query's figures under one grid point."""

    ndcg: float
    recall: float
    reciprocal_rank: float


def weight_grid(
    rrf_ks: Sequence[int] = RRF_KS, ratios: Sequence[float] = WEIGHT_RATIOS, boost: float | None = None
) -> list[FusionWeights]:
    """Every (rrf_k, keyword:semantic ratio) pair; ``boost``: the settings' when None (the sweep leaves it)."""
    boost = settings.SEARCH_BOOST_WEIGHT if boost is None else boost
    grid = []
    for rrf_k in rrf_ks:
        for ratio in ratios:
            keyword, semantic = (1.0, 1.0 / ratio) if ratio > 1 else (ratio, 1.0)
            grid.append(FusionWeights(rrf_k=rrf_k, keyword=keyword, semantic=semantic, boost=boost))
    return grid


def read_lists(
    queries: Sequence[JudgedQuery], model: EmbeddingModel, progress: Callable[[int], None] | None = None
) -> list[QueryLists]:
    """Each query's pins and its keyword and vector lists, as deep as a first page's hybrid search reads
    them; the query vector is encoded now, not read from the cache."""
    depth = max(page_depth(1, RECALL_K), settings.SEARCH_HYBRID_CANDIDATES)
    read = []
    with override_settings(SEARCH_QUERY_CACHE_SECONDS=0):
        for done, judged in enumerate(queries, 1):
            keyword = text_matches(judged.query, depth, judged.filters)
            vector = embed_query(model, judged.query)
            semantic = vector_neighbours(model, vector, depth, filters=judged.filters)
            pins = pinned_first(judged.query, [], judged.filters)
            read.append(
                QueryLists(
                    judged=judged,
                    pinned=[hit.artwork.aic_id for hit in pins],
                    keyword=[artwork for artwork, _ in keyword],
                    semantic=[artwork for artwork, _ in semantic],
                )
            )
            if progress is not None:
                progress(done)
    return read


def score_grid(lists: Sequence[QueryLists], grid: Sequence[FusionWeights]) -> dict[FusionWeights, list[Figures]]:
    """Every query's figures under every grid point, queries in ``lists``' order."""
    scores: dict[FusionWeights, list[Figures]] = {}
    for weights in grid:
        figures = []
        for query in lists:
            ranked = query.ranked(weights)
            relevant = query.judged.relevant
            figures.append(
                Figures(ndcg_at(ranked, relevant), recall_at(ranked, relevant), reciprocal_rank(ranked, relevant))
            )
        scores[weights] = figures
    return scores


def fold_splits(queries: Sequence[JudgedQuery], folds: int, seed: int = 0) -> list[list[int]]:
    """Indices of ``queries`` dealt into ``folds`` folds: each kind shuffled (seeded) and dealt on from
    where the last kind stopped, so every fold holds about as many of each kind and of all."""
    if not 2 <= folds <= len(queries):
        raise ValueError(f"folds must be between 2 and the number of queries ({len(queries)}), not {folds}")
    by_kind: dict[str, list[int]] = defaultdict(list)
    for index, judged in enumerate(queries):
        by_kind[judged.kind].append(index)
    shuffler = random.Random(seed)
    splits: list[list[int]] = [[] for _ in range(folds)]
    dealt = 0
    for kind in sorted(by_kind):
        indices = by_kind[kind]
        shuffler.shuffle(indices)
        for index in indices:
            splits[dealt % folds].append(index)
            dealt += 1
    return [sorted(split) for split in splits]


def summary(figures: Sequence[Figures]) -> dict[str, float]:
    return {
        NDCG: round(mean([f.ndcg for f in figures]), 4),
        RECALL: round(mean([f.recall for f in figures]), 4),
        MRR: round(mean([f.reciprocal_rank for f in figures]), 4),
    }


def best_weights(
    scores: dict[FusionWeights, list[Figures]], indices: Sequence[int], prefer: FusionWeights
) -> FusionWeights:
    """The grid point of highest mean nDCG@10 over the queries at ``indices``; ties go to the higher MRR,
    then recall, then ``prefer`` (the current settings: a tie is no reason to change), then ``prefer``'s
    rrf_k (with one list weighing nothing, every rrf_k ranks alike), then grid order."""

    def merit(weights: FusionWeights) -> tuple[float, float, float, bool, bool]:
        chosen = [scores[weights][i] for i in indices]
        # Rounded so that sums of the same figures added in another order still tie.
        return (
            round(mean([f.ndcg for f in chosen]), 9),
            round(mean([f.reciprocal_rank for f in chosen]), 9),
            round(mean([f.recall for f in chosen]), 9),
            weights == prefer,
            weights.rrf_k == prefer.rrf_k,
        )

    return max(scores, key=merit)


@dataclass(frozen=True)
class Fold:
    """One fold: its held-out queries' indices, the grid point chosen on the others, and both figures."""

    held_out: list[int]
    trained_on: list[int]
    chosen: FusionWeights
    chosen_figures: dict[str, float]
    current_figures: dict[str, float]


@dataclass(frozen=True)
class Sweep:
    model_name: str
    queries: int
    current: FusionWeights
    scores: dict[FusionWeights, list[Figures]]
    folds: list[Fold] = field(default_factory=list)

    def figures(self, weights: FusionWeights) -> dict[str, float]:
        return summary(self.scores[weights])

    @property
    def best(self) -> FusionWeights:
        """The best grid point on the whole set: the weights to adopt when cross-validation says it pays."""
        return best_weights(self.scores, range(self.queries), self.current)

    def ranked_grid(self) -> list[tuple[FusionWeights, dict[str, float]]]:
        """Every grid point with its whole-set figures, best nDCG@10 first."""
        rows = [(weights, self.figures(weights)) for weights in self.scores]
        return sorted(rows, key=lambda row: (-row[1][NDCG], -row[1][MRR], -row[1][RECALL]))

    def cross_validated(self) -> dict[str, float]:
        """Each query scored under the grid point chosen without it, pooled over all queries."""
        held_out: list[Figures] = []
        for fold in self.folds:
            held_out.extend(self.scores[fold.chosen][i] for i in fold.held_out)
        return summary(held_out)

    def as_json(self) -> dict[str, Any]:
        best = self.best
        return {
            "queries": self.queries,
            "model": self.model_name,
            "current": {**weights_json(self.current), **self.figures(self.current)},
            "best": {**weights_json(best), **self.figures(best)},
            "cross_validated": {
                **self.cross_validated(),
                "folds": [
                    {
                        "queries": len(fold.held_out),
                        "chosen": weights_json(fold.chosen),
                        NDCG: fold.chosen_figures[NDCG],
                        f"current {NDCG}": fold.current_figures[NDCG],
                    }
                    for fold in self.folds
                ],
            },
        }


def weights_json(weights: FusionWeights) -> dict[str, float]:
    return {"rrf_k": weights.rrf_k, "keyword": weights.keyword, "semantic": weights.semantic, "boost": weights.boost}


def sweep(
    queries: Sequence[JudgedQuery],
    model: EmbeddingModel,
    *,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    grid: Sequence[FusionWeights] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Sweep:
    """Scores ``grid`` (``weight_grid()`` and the current settings when None) on ``queries`` under
    ``model`` and cross-validates the choice of the best over ``folds`` folds."""
    splits = fold_splits(queries, folds, seed)
    current = FusionWeights.from_settings()
    grid = list(grid if grid is not None else weight_grid())
    if current not in grid:
        grid.append(current)
    scores = score_grid(read_lists(queries, model, progress), grid)
    every = set(range(len(queries)))
    chosen_folds = []
    for held_out in splits:
        trained_on = sorted(every - set(held_out))
        chosen = best_weights(scores, trained_on, current)
        chosen_folds.append(
            Fold(
                held_out=held_out,
                trained_on=trained_on,
                chosen=chosen,
                chosen_figures=summary([scores[chosen][i] for i in held_out]),
                current_figures=summary([scores[current][i] for i in held_out]),
            )
        )
    return Sweep(model_name=model.name, queries=len(queries), current=current, scores=scores, folds=chosen_folds)
