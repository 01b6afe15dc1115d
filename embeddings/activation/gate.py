"""The evaluation gates: other apps may refuse a candidate before it is embedded, and before the switch."""

from __future__ import annotations

from dataclasses import dataclass

from django.dispatch import Signal

from embeddings.models import EmbeddingModel

# Sent with ``candidate`` and ``active`` (both EmbeddingModel) before a candidate is embedded. A receiver
# returns None to let it through, or a sentence saying why it must not replace the active model.
activation_gate = Signal()

# Sent with ``candidate`` and ``active`` once the candidate's vectors cover the catalog, right before
# the switch (what can only be measured on the candidate's vectors, such as the ranking), unless the
# activation is forced. A receiver returns None or a GateNote to let it through, or a sentence saying
# why it must not replace the active model. The candidate's vectors are kept either way, so a later
# forced activation need not embed again.
switch_gate = Signal()


@dataclass(frozen=True)
class GateNote:
    """A receiver's pass with something to say (what it measured, or why it measured nothing): shown
    in the activation's status, refusing nothing."""

    text: str


@dataclass(frozen=True)
class GateVerdict:
    """The first refusal among a gate's receivers (None: let through), and the notes of those that passed."""

    refusal: str | None = None
    notes: tuple[str, ...] = ()


def gate_verdict(candidate: EmbeddingModel) -> str | None:
    """The first refusal among the gate's receivers, or None. No active model: nothing to compare with."""
    return _verdict(activation_gate, candidate).refusal


def switch_verdict(candidate: EmbeddingModel) -> GateVerdict:
    """What the receivers of ``switch_gate`` say of ``candidate``; no active model: nothing to compare with."""
    return _verdict(switch_gate, candidate)


def _verdict(signal: Signal, candidate: EmbeddingModel) -> GateVerdict:
    active = EmbeddingModel.active()
    if active is None or active.pk == candidate.pk:
        return GateVerdict()
    notes: list[str] = []
    for _receiver, answer in signal.send(sender=EmbeddingModel, candidate=candidate, active=active):
        if isinstance(answer, GateNote):
            notes.append(answer.text)
        elif answer:
            return GateVerdict(refusal=str(answer), notes=tuple(notes))
    return GateVerdict(notes=tuple(notes))
