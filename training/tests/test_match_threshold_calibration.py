"""The match threshold: the lowest true pair's similarity at which true pairs are the stated share."""

from __future__ import annotations

import math

import pytest
import torch

from training.evaluation import match_threshold


def test_it_keeps_the_true_pairs_that_hold_the_precision() -> None:
    # Four captions (rows) by four images; true pairs on the diagonal.
    similarity = torch.tensor(
        [
            [0.90, 0.20, 0.10, 0.30],  # best wrong 0.30
            [0.20, 0.80, 0.50, 0.10],  # best wrong 0.50
            [0.10, 0.40, 0.60, 0.70],  # best wrong 0.70, above its own 0.60
            [0.35, 0.20, 0.10, 0.40],  # best wrong 0.35
        ]
    )
    # At or above 0.80: two true, no wrong (precision 1). At 0.60: three true, one wrong (0.70): 0.75.
    # At 0.40: four true, three wrong (0.70, 0.50, 0.35 is below): 4/6.
    assert match_threshold(similarity, precision=0.9)["match_threshold"] == pytest.approx(0.80)
    found = match_threshold(similarity, precision=0.75)
    assert found["match_threshold"] == pytest.approx(0.60)
    assert found["precision"] == pytest.approx(0.75)
    assert found["recall"] == pytest.approx(0.75)
    assert match_threshold(similarity, precision=0.6)["match_threshold"] == pytest.approx(0.40)


def test_a_model_that_tells_no_pair_apart_makes_every_match_weak() -> None:
    # Every caption's best wrong image beats its own: no threshold reaches any precision.
    similarity = torch.tensor([[0.1, 0.5, 0.2], [0.6, 0.2, 0.3], [0.4, 0.7, 0.3]], dtype=torch.float64)

    found = match_threshold(similarity, precision=0.9)

    assert found["match_threshold"] > 0.7  # above every score of the split
    assert math.isclose(found["match_threshold"], 0.7, abs_tol=1e-6)
    assert found["recall"] == 0.0
