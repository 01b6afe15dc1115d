from __future__ import annotations

import pytest
import torch

from training.evaluation import in_batch_recall, rank_metrics, recall_at_k


def test_it_gives_full_recall_for_the_identity() -> None:
    metrics = recall_at_k(torch.eye(12))

    assert set(metrics) == {f"{direction}_recall@{k}" for direction in ("t2i", "i2t") for k in (1, 5, 10)}
    assert all(value == 1.0 for value in metrics.values())


def test_it_scores_a_known_permutation() -> None:
    # Texts 0 and 3 find their image; texts 1 and 2 point at each other's image and tie with the rest.
    permutation = [0, 2, 1, 3]
    similarity = torch.zeros(4, 4)
    similarity[torch.arange(4), torch.tensor(permutation)] = 1.0

    metrics = recall_at_k(similarity, ks=(1, 3, 4))

    assert metrics["t2i_recall@1"] == 0.5
    assert metrics["t2i_recall@3"] == 0.5  # a tie with the true item counts against it
    assert metrics["t2i_recall@4"] == 1.0
    assert metrics["i2t_recall@1"] == 0.5


def test_it_measures_each_direction_separately() -> None:
    similarity = torch.tensor(
        [
            [0.9, 0.1, 0.0],
            [0.8, 0.5, 0.2],  # text 1 prefers image 0, but image 1 still prefers text 1
            [0.0, 0.3, 0.7],
        ]
    )

    metrics = recall_at_k(similarity, ks=(1, 2))

    assert metrics["t2i_recall@1"] == pytest.approx(2 / 3)
    assert metrics["t2i_recall@2"] == 1.0
    assert metrics["i2t_recall@1"] == 1.0


def test_it_gives_no_credit_when_every_score_ties() -> None:
    metrics = recall_at_k(torch.ones(5, 5), ks=(1, 4))

    assert metrics["t2i_recall@1"] == 0.0
    assert metrics["i2t_recall@4"] == 0.0


def test_it_refuses_a_matrix_that_is_not_square() -> None:
    with pytest.raises(ValueError, match="square"):
        recall_at_k(torch.zeros(3, 4))


def test_it_gives_median_ranks_counting_from_one() -> None:
    # Text i has i other images scoring above its own, so its true image ranks i + 1: median 3.
    similarity = torch.zeros(5, 5)
    for row in range(5):
        similarity[row, row] = 0.5
        others = [column for column in range(5) if column != row][:row]
        similarity[row, others] = 1.0

    metrics = rank_metrics(similarity)

    assert metrics["t2i_median_rank"] == 3.0
    assert metrics["t2i_recall@1"] == 0.2
    assert metrics["i2t_median_rank"] >= 1.0


def test_in_batch_recall_only_counts_the_pairs_of_each_batch() -> None:
    # Two batches of two; across the split every text prefers image 0, so whole-split recall@1 is low.
    similarity = torch.tensor(
        [
            [0.9, 0.1, 0.0, 0.0],
            [0.95, 0.9, 0.0, 0.0],
            [0.99, 0.0, 0.9, 0.1],
            [0.99, 0.0, 0.1, 0.9],
        ]
    )

    whole = recall_at_k(similarity, ks=(1,))
    in_batch = in_batch_recall(similarity, batch_size=2, ks=(1,))

    assert whole["t2i_recall@1"] == 0.25
    assert in_batch["in_batch_t2i_recall@1"] == 0.75  # text 1 still loses to image 0 in its batch
