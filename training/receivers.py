"""The training app's say in model activation: the evaluation gate."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from embeddings.activation.gate import activation_gate
from embeddings.models import EmbeddingModel


@receiver(activation_gate)
def refuse_a_worse_model(sender: Any, candidate: EmbeddingModel, active: EmbeddingModel, **kwargs: Any) -> str | None:
    """Refuse a candidate whose test text-to-image recall@5 is below the active model's."""
    # Imported here: PyTorch stays out of web processes until a model is activated.
    from training.model_evaluation import recall_gate

    return recall_gate(candidate, active)
