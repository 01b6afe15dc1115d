"""The fusion-weight sweep: each query is scored under weights chosen on folds without it, and where
the keyword list is right and the vector list noise, the sweep leans on keywords and beats equal weights."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.conf import settings

from catalog.models import Artwork
from search.evaluation.judgments import JudgedQuery, load_judged_queries
from search.evaluation.runs import NDCG
from search.evaluation.sweep import fold_splits, sweep, weight_grid
from search.fusion import FusionWeights
from search.keyword import text_matches
from search.management.commands.evaluate_search import DEFAULT_QUERIES

pytestmark = pytest.mark.django_db(transaction=True)

# Words many artworks of the sample hold, none of them a whole title.
WORDS = (
    "portrait", "landscape", "river", "woman", "flowers", "street", "saint", "virgin", "sea", "garden",
    "village", "church", "horse", "boats", "mountain", "child", "girl", "man", "house", "bridge",
)  # fmt: skip


def test_no_query_is_scored_with_weights_chosen_on_it(collection: list[Artwork], embedding_model: Any) -> None:
    queries = load_judged_queries(DEFAULT_QUERIES)[::3]
    grid = weight_grid(rrf_ks=(1, 60), ratios=(0.0, 1.0, 4.0))

    result = sweep(queries, embedding_model, folds=4, seed=7, grid=grid)

    assert len(result.folds) == 4
    held_out = [index for fold in result.folds for index in fold.held_out]
    assert sorted(held_out) == list(range(len(queries)))  # every query held out exactly once
    for fold in result.folds:
        assert not set(fold.held_out) & set(fold.trained_on)
        assert set(fold.held_out) | set(fold.trained_on) == set(range(len(queries)))
        # Dealt kind by kind: a kind with a query for every fold is in every fold.
        kinds = Counter(queries[i].kind for i in fold.held_out)
        assert {kind for kind, n in Counter(q.kind for q in queries).items() if n >= 4} <= set(kinds)
    assert max(len(f.held_out) for f in result.folds) - min(len(f.held_out) for f in result.folds) <= 1
    # The same seed deals the same folds; another seed deals others.
    assert fold_splits(queries, 4, seed=7) == [fold.held_out for fold in result.folds]
    assert fold_splits(queries, 4, seed=8) != fold_splits(queries, 4, seed=7)
    with pytest.raises(ValueError, match="folds"):
        fold_splits(queries, 1)


def test_keyword_heavy_weights_win_where_the_keyword_list_is_right(
    collection: list[Artwork], embedding_model: Any
) -> None:
    # The judgments are the keyword list's own first three: the words are right, and the test model's
    # seeded random vectors make the semantic list noise.
    queries = []
    for word in WORDS:
        first = [artwork.aic_id for artwork, _ in text_matches(word, settings.SEARCH_HYBRID_CANDIDATES)][:3]
        if len(first) == 3:
            queries.append(JudgedQuery(query=word, kind="subject", relevant=dict(zip(first, (3, 2, 1), strict=True))))
    assert len(queries) >= 12
    equal = FusionWeights(rrf_k=60, keyword=1.0, semantic=1.0, boost=settings.SEARCH_BOOST_WEIGHT)

    result = sweep(queries, embedding_model, folds=4, seed=0, grid=[*weight_grid(), equal])

    best = result.best
    assert best.keyword > best.semantic
    assert all(fold.chosen.keyword > fold.chosen.semantic for fold in result.folds)
    assert result.cross_validated()[NDCG] > result.figures(equal)[NDCG]
