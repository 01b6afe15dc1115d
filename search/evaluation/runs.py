"""Runs a judged query set through the live ranking (search/ranking.py, as the API calls it) and scores it.

Caches are bypassed: every query vector is encoded by the model now, and ``ranking.search`` never
reads the result cache. Each query is asked for one page of RECALL_K results, the API's default page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.test.utils import override_settings

from embeddings.models import EmbeddingModel
from search.evaluation.judgments import JudgedQuery
from search.evaluation.metrics import NDCG_K, RECALL_K, mean, ndcg_at, recall_at, reciprocal_rank
from search.ranking import search
from search.types import Mode

NDCG = f"ndcg@{NDCG_K}"
RECALL = f"recall@{RECALL_K}"
MRR = "mrr"
WORST_SHOWN = 10
TOP_SHOWN = 5


@dataclass(frozen=True)
class QueryScore:
    judged: JudgedQuery
    ranked: list[int]
    ndcg: float
    recall: float
    reciprocal_rank: float

    def as_json(self) -> dict[str, Any]:
        first = next((rank for rank, aic_id in enumerate(self.ranked, 1) if aic_id in self.judged.relevant), None)
        return {
            "query": self.judged.query,
            "kind": self.judged.kind,
            "filters": self.judged.filters.active(),
            NDCG: round(self.ndcg, 4),
            RECALL: round(self.recall, 4),
            MRR: round(self.reciprocal_rank, 4),
            "first_relevant_rank": first,
            "top": self.ranked[:TOP_SHOWN],
            "relevant": {str(aic_id): grade for aic_id, grade in self.judged.relevant.items()},
        }


def ranked_ids(judged: JudgedQuery, mode: Mode, model: EmbeddingModel | None) -> list[int]:
    page = search(judged.query, mode=mode, filters=judged.filters, page=1, page_size=RECALL_K, model=model)
    return [hit.artwork.aic_id for hit in page.hits]


def score_mode(
    queries: list[JudgedQuery],
    mode: Mode,
    model: EmbeddingModel | None,
    progress: Callable[[int], None] | None = None,
) -> list[QueryScore]:
    """Every query ranked in ``mode`` and scored against its judgments, in the file's order."""
    scores = []
    with override_settings(SEARCH_QUERY_CACHE_SECONDS=0):
        for done, judged in enumerate(queries, 1):
            ranked = ranked_ids(judged, mode, model)
            scores.append(
                QueryScore(
                    judged=judged,
                    ranked=ranked,
                    ndcg=ndcg_at(ranked, judged.relevant),
                    recall=recall_at(ranked, judged.relevant),
                    reciprocal_rank=reciprocal_rank(ranked, judged.relevant),
                )
            )
            if progress is not None:
                progress(done)
    return scores


def summary(scores: list[QueryScore]) -> dict[str, float]:
    """The mean of each metric over ``scores``, rounded to four places."""
    return {
        NDCG: round(mean([s.ndcg for s in scores]), 4),
        RECALL: round(mean([s.recall for s in scores]), 4),
        MRR: round(mean([s.reciprocal_rank for s in scores]), 4),
    }


def by_kind(scores: list[QueryScore]) -> dict[str, dict[str, float]]:
    """``summary`` per kind of query, with the number of queries of each kind; kinds in name order."""
    groups: dict[str, list[QueryScore]] = defaultdict(list)
    for score in scores:
        groups[score.judged.kind].append(score)
    return {kind: {"queries": len(group), **summary(group)} for kind, group in sorted(groups.items())}


def worst(scores: list[QueryScore], count: int = WORST_SHOWN) -> list[dict[str, Any]]:
    """The ``count`` queries of lowest nDCG, then lowest reciprocal rank, then by query text."""
    ordered = sorted(scores, key=lambda s: (s.ndcg, s.reciprocal_rank, s.judged.query, s.judged.kind))
    return [score.as_json() for score in ordered[:count]]
