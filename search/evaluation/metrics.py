"""Ranking metrics over graded judgments: nDCG@k, recall@k and reciprocal rank.

``ranked`` is a ranking's AIC ids, best first; ``judged`` maps the relevant ones to a grade (1 to 3).
An artwork without a judgment counts as not relevant; a ranking shorter than k is scored as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

NDCG_K = 10
RECALL_K = 24  # the API's default page size: what a visitor sees without paging


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain: the gain at 1-based rank i divided by log2(i + 1)."""
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, 1))


def ndcg_at(ranked: Sequence[int], judged: Mapping[int, int], k: int = NDCG_K) -> float:
    """DCG of the first k, over the DCG of the best possible first k from the judged grades; 0 when
    nothing is judged relevant. An artwork appearing twice gains only once."""
    seen: set[int] = set()
    gains = []
    for aic_id in ranked[:k]:
        gains.append(float(judged.get(aic_id, 0)) if aic_id not in seen else 0.0)
        seen.add(aic_id)
    ideal = dcg(sorted((float(grade) for grade in judged.values() if grade > 0), reverse=True)[:k])
    return dcg(gains) / ideal if ideal > 0 else 0.0


def recall_at(ranked: Sequence[int], judged: Mapping[int, int], k: int = RECALL_K) -> float:
    """Share of the relevant artworks among the first k; 0 when nothing is judged relevant."""
    relevant = {aic_id for aic_id, grade in judged.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant & set(ranked[:k])) / len(relevant)


def reciprocal_rank(ranked: Sequence[int], judged: Mapping[int, int]) -> float:
    """1 / the 1-based rank of the first relevant artwork; 0 when none is ranked."""
    for rank, aic_id in enumerate(ranked, 1):
        if judged.get(aic_id, 0) > 0:
            return 1.0 / rank
    return 0.0


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
