"""Retrieval quality of a CLIP model over a whole split: text→image and image→text.

Recall@k and the median rank are measured over every pair of the split at once (each caption
against every image), which is what search does. The in-batch top-k that the original project
reported (each caption against the other pairs of its batch only) is measured alongside, for
comparison: it is much kinder, since a batch holds few candidates.

The split also calibrates the model's match threshold (``match_threshold``): the cosine similarity
below which search calls a semantic match weak.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

RECALL_KS = (1, 5, 10)
IN_BATCH_SIZE = 32
# The share of true pairs among the (caption, image) pairs scoring at or above the match threshold.
MATCH_PRECISION = 0.9


def recall_at_k(similarity: torch.Tensor | np.ndarray, ks: Sequence[int] = RECALL_KS) -> dict[str, float]:
    """Recall@k both ways for a square matrix of text (rows) by image (columns) scores, true pairs on the diagonal.

    Keys are ``t2i_recall@k`` and ``i2t_recall@k``. A tie with the true item counts against it, so a model
    that scores everything alike gets no credit rather than a lucky ordering.
    """
    scores = _square(similarity)
    metrics: dict[str, float] = {}
    for direction, ranks in (("t2i", true_item_ranks(scores)), ("i2t", true_item_ranks(scores.T))):
        for k in ks:
            metrics[f"{direction}_recall@{k}"] = float((ranks < k).double().mean())
    return metrics


def rank_metrics(similarity: torch.Tensor | np.ndarray, ks: Sequence[int] = RECALL_KS) -> dict[str, float]:
    """Recall@k both ways plus ``t2i_median_rank`` and ``i2t_median_rank`` (1 = the true item comes first)."""
    scores = _square(similarity)
    metrics = recall_at_k(scores, ks)
    for direction, ranks in (("t2i", true_item_ranks(scores)), ("i2t", true_item_ranks(scores.T))):
        metrics[f"{direction}_median_rank"] = float(np.median(ranks.numpy() + 1))
    return metrics


def in_batch_recall(
    similarity: torch.Tensor | np.ndarray, batch_size: int = IN_BATCH_SIZE, ks: Sequence[int] = RECALL_KS
) -> dict[str, float]:
    """The original project's measure: recall@k within consecutive batches of ``batch_size`` pairs.

    Averaged over pairs. Keys are prefixed ``in_batch_``. With k at or above the batch size it is 1.
    """
    scores = _square(similarity)
    count = scores.shape[0]
    totals: dict[str, float] = {}
    for start in range(0, count, batch_size):
        stop = min(start + batch_size, count)
        batch = recall_at_k(scores[start:stop, start:stop], ks)
        for name, value in batch.items():
            totals[name] = totals.get(name, 0.0) + value * (stop - start)
    return {f"in_batch_{name}": value / count for name, value in totals.items()}


def true_item_ranks(scores: torch.Tensor) -> torch.Tensor:
    """For each row, how many other columns score at least as high as the diagonal one (0 = first)."""
    true_scores = scores.diagonal().unsqueeze(1)
    at_least_as_high = (scores >= true_scores).sum(dim=1)
    return at_least_as_high - 1  # the true item itself is always counted


def match_threshold(similarity: torch.Tensor | np.ndarray, precision: float = MATCH_PRECISION) -> dict[str, float]:
    """The cosine similarity that tells a true (caption, image) pair from a caption's best wrong image.

    Rows are captions, columns images, true pairs on the diagonal. The true pairs score the diagonal;
    each caption's best wrong image (the highest score off the diagonal in its row) is the wrong match
    a search would show first. The threshold is the lowest true pair's score at which, among all those
    scores at or above it, at least ``precision`` are true pairs: as many true pairs as possible stay
    strong while wrong ones stay a small share. Where no score reaches that precision (a model that
    tells no pair apart), the threshold is just above every score, and every match is weak.

    Returns ``match_threshold``, the ``precision`` and ``recall`` (the share of true pairs at or above
    it) it reaches on the split, and the ``precision_wanted``.
    """
    scores = _square(similarity)
    true_scores = scores.diagonal().clone()
    off_diagonal = scores.clone()
    off_diagonal.fill_diagonal_(float("-inf"))
    wrong_scores = off_diagonal.max(dim=1).values if scores.shape[0] > 1 else torch.empty(0, dtype=scores.dtype)
    found = {"match_threshold": float("nan"), "precision": 0.0, "recall": 0.0, "precision_wanted": precision}
    for candidate in torch.sort(true_scores, descending=True).values.tolist():
        true_above = int((true_scores >= candidate).sum())
        wrong_above = int((wrong_scores >= candidate).sum())
        reached = true_above / (true_above + wrong_above)
        if reached >= precision:
            found.update(match_threshold=candidate, precision=reached, recall=true_above / len(true_scores))
    if math.isnan(found["match_threshold"]):
        found["match_threshold"] = math.nextafter(float(scores.max()), math.inf)
    return found


def encode_split(
    model: Any, images: torch.Tensor, tokens: torch.Tensor, device: torch.device, batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised (image features, text features) on the CPU, in the order given."""
    was_training = model.training
    model.eval()
    image_parts: list[torch.Tensor] = []
    text_parts: list[torch.Tensor] = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            image_batch = images[start : start + batch_size].to(device)
            text_batch = tokens[start : start + batch_size].to(device)
            image_parts.append(model.encode_image(image_batch, normalize=True).float().cpu())
            text_parts.append(model.encode_text(text_batch, normalize=True).float().cpu())
    model.train(was_training)
    return torch.cat(image_parts), torch.cat(text_parts)


def retrieval_metrics(
    model: Any, images: torch.Tensor, tokens: torch.Tensor, device: torch.device, batch_size: int = 64
) -> dict[str, float]:
    """Recall@k and median rank both ways over every pair given (images[i] belongs with tokens[i])."""
    image_features, text_features = encode_split(model, images, tokens, device, batch_size)
    return rank_metrics(text_features @ image_features.T)


def full_evaluation(
    model: Any,
    images: torch.Tensor,
    tokens: torch.Tensor,
    device: torch.device,
    in_batch_size: int = IN_BATCH_SIZE,
) -> dict[str, dict[str, float]]:
    """``{"whole_split": recall@k and median ranks, "in_batch": the original project's in-batch recall@k,
    "calibration": the match threshold (``match_threshold``)}``."""
    image_features, text_features = encode_split(model, images, tokens, device)
    similarity = text_features @ image_features.T
    return {
        "whole_split": rank_metrics(similarity),
        "in_batch": in_batch_recall(similarity, in_batch_size),
        "calibration": match_threshold(similarity),
    }


def _square(similarity: torch.Tensor | np.ndarray) -> torch.Tensor:
    scores = torch.as_tensor(similarity, dtype=torch.float64)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1] or scores.shape[0] == 0:
        raise ValueError(f"need a non-empty square similarity matrix, got shape {tuple(scores.shape)}")
    return scores
