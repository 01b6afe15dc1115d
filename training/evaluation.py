"""Retrieval recall@k of a CLIP model over a whole split: text→image and image→text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

RECALL_KS = (1, 5, 10)


def recall_at_k(similarity: torch.Tensor | np.ndarray, ks: Sequence[int] = RECALL_KS) -> dict[str, float]:
    """Recall@k both ways for a square matrix of text (rows) by image (columns) scores, true pairs on the diagonal.

    Keys are ``t2i_recall@k`` and ``i2t_recall@k``. A tie with the true item counts against it, so a model
    that scores everything alike gets no credit rather than a lucky ordering.
    """
    scores = torch.as_tensor(similarity, dtype=torch.float64)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1] or scores.shape[0] == 0:
        raise ValueError(f"need a non-empty square similarity matrix, got shape {tuple(scores.shape)}")
    t2i_ranks = _true_item_ranks(scores)
    i2t_ranks = _true_item_ranks(scores.T)
    metrics: dict[str, float] = {}
    for direction, ranks in (("t2i", t2i_ranks), ("i2t", i2t_ranks)):
        for k in ks:
            metrics[f"{direction}_recall@{k}"] = float((ranks < k).double().mean())
    return metrics


def _true_item_ranks(scores: torch.Tensor) -> torch.Tensor:
    """For each row, how many other columns score at least as high as the diagonal one (0 = first)."""
    true_scores = scores.diagonal().unsqueeze(1)
    at_least_as_high = (scores >= true_scores).sum(dim=1)
    return at_least_as_high - 1  # the true item itself is always counted


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
    """Recall@k both ways over every pair given (images[i] belongs with tokens[i])."""
    image_features, text_features = encode_split(model, images, tokens, device, batch_size)
    return recall_at_k(text_features @ image_features.T)
