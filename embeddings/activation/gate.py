"""The evaluation gate: other apps may refuse a candidate before it is embedded."""

from __future__ import annotations

from django.dispatch import Signal

from embeddings.models import EmbeddingModel

# Sent with ``candidate`` and ``active`` (both EmbeddingModel) before a candidate is embedded. A receiver
# returns None to let it through, or a sentence saying why it must not replace the active model.
activation_gate = Signal()


def gate_verdict(candidate: EmbeddingModel) -> str | None:
    """The first refusal among the gate's receivers, or None. No active model: nothing to compare with."""
    active = EmbeddingModel.active()
    if active is None or active.pk == candidate.pk:
        return None
    for _receiver, verdict in activation_gate.send(sender=EmbeddingModel, candidate=candidate, active=active):
        if verdict:
            return str(verdict)
    return None
