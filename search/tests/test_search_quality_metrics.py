"""nDCG@10, recall@24 and reciprocal rank match figures worked out by hand."""

from __future__ import annotations

import math

import pytest

from search.evaluation.metrics import ndcg_at, recall_at, reciprocal_rank

LOG2_3 = math.log2(3)


def test_graded_gains_with_an_unjudged_artwork_and_fewer_than_k_results() -> None:
    judged = {1: 3, 2: 2, 3: 1}
    ranked = [2, 9, 1]  # 9 has no judgment: no gain; only three results for a k of 10 and 24

    # DCG: 2/log2(2) + 0 + 3/log2(4) = 3.5; ideal: 3 + 2/log2(3) + 1/log2(4)
    assert ndcg_at(ranked, judged) == pytest.approx(3.5 / (3 + 2 / LOG2_3 + 0.5))
    assert recall_at(ranked, judged) == pytest.approx(2 / 3)
    assert reciprocal_rank(ranked, judged) == 1.0


def test_equal_grades_score_the_same_in_either_order() -> None:
    judged = {1: 2, 2: 2}

    assert ndcg_at([1, 2], judged) == ndcg_at([2, 1], judged) == pytest.approx(1.0)
    # An unjudged artwork first pushes both down a place: (2/log2(3) + 2/log2(4)) / (2 + 2/log2(3)).
    assert ndcg_at([5, 2, 1], judged) == pytest.approx((2 / LOG2_3 + 1.0) / (2 + 2 / LOG2_3))
    assert reciprocal_rank([5, 2, 1], judged) == pytest.approx(0.5)


def test_only_the_first_k_count() -> None:
    judged = {100: 3}
    ranked = [*range(1, 11), 100]  # the relevant artwork is eleventh

    assert ndcg_at(ranked, judged) == 0.0
    assert ndcg_at(ranked, judged, k=11) == pytest.approx(3 / math.log2(12) / 3)
    assert recall_at(ranked, judged) == 1.0
    assert recall_at(ranked, judged, k=10) == 0.0
    assert reciprocal_rank(ranked, judged) == pytest.approx(1 / 11)


def test_the_ideal_ranking_is_cut_at_k_too() -> None:
    judged = {aic_id: 1 for aic_id in range(1, 31)}  # thirty relevant, more than either k

    assert ndcg_at(list(range(1, 11)), judged) == pytest.approx(1.0)
    assert recall_at(list(range(1, 25)), judged) == pytest.approx(24 / 30)


def test_a_repeated_artwork_gains_once_and_nothing_relevant_scores_zero() -> None:
    assert ndcg_at([1, 1], {1: 3, 2: 3}) == pytest.approx(3 / (3 + 3 / LOG2_3))
    assert ndcg_at([1, 2], {}) == recall_at([1, 2], {}) == reciprocal_rank([1, 2], {}) == 0.0
    assert ndcg_at([], {1: 3}) == recall_at([], {1: 3}) == reciprocal_rank([], {1: 3}) == 0.0
