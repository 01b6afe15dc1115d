"""The stages an activation shares however it runs: its start, the gates, and the switch; and the
activation in one process (``run_step``), which embeds the pass itself, batch by batch.

On the embed queue the pass is fanned out over every worker instead (``fan_out``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from embeddings.activation.coverage import unhandled_artworks
from embeddings.activation.embed_pass import embed_pass, more_to_embed
from embeddings.activation.errors import ActivationError, ActivationIncomplete, ActivationRefused
from embeddings.activation.gate import gate_verdict, switch_verdict
from embeddings.activation.lease import LeaseRenewal, hold_lease, release_lease
from embeddings.activation.pruning import prune_vectors
from embeddings.activation.states import IN_PROGRESS, ActivationState
from embeddings.activation.status import ActivationStatus, activation_status, save_status
from embeddings.activation.switch import switch_to
from embeddings.encoders.types import ModelLoadError
from embeddings.indexing import artworks_missing_vectors, enqueue_embedding
from embeddings.models import EmbeddingModel

StatusCallback = Callable[[ActivationStatus], None]


@dataclass
class StepResult:
    status: ActivationStatus
    resume_after: int  # the last artwork pk the pass handled
    finished: bool  # True: the model is active or the activation ended with an error


def begin(candidate: EmbeddingModel, *, force: bool = False, hold_seconds: float | None = None) -> ActivationStatus:
    """Record a new activation of ``candidate`` as queued, leased for ``hold_seconds`` (default
    ``ACTIVATION_LEASE_SECONDS``) until a step takes it; refuses one already under way."""
    current = activation_status(candidate)
    if current is not None and current.state in IN_PROGRESS:
        raise ActivationError(f"{candidate.name} is already being activated ({current.line()})")
    status = ActivationStatus(model_id=candidate.pk, model=candidate.name, state=ActivationState.QUEUED, force=force)
    hold_lease(candidate.pk, settings.ACTIVATION_LEASE_SECONDS if hold_seconds is None else hold_seconds)
    save_status(status)
    return status


def run_step(
    candidate: EmbeddingModel,
    status: ActivationStatus,
    *,
    gated: bool,
    resume_after: int = 0,
    prune: bool = False,
    budget_seconds: float | None = None,
    on_status: StatusCallback | None = None,
) -> StepResult:
    """In this process: gate (unless ``gated``), then embed from ``resume_after`` on until done or past
    ``budget_seconds``, then switch when the pass is over. Errors end the activation and are recorded in
    its status.

    The step holds the activation's lease, renewed while it runs; it gives the lease up when the
    activation ends."""
    finished = True
    try:
        with LeaseRenewal(candidate.pk, settings.ACTIVATION_LEASE_SECONDS):
            step = _step(candidate, status, gated, resume_after, prune, budget_seconds, on_status)
        finished = step.finished
        return step
    finally:
        if finished:
            release_lease(candidate.pk)


Report = Callable[[ActivationState, str], None]


def gate(candidate: EmbeddingModel, status: ActivationStatus, report: Report) -> None:
    """The evaluation gate, once per activation; raises ActivationRefused unless ``status.force``.
    Counts what the pass has to embed and reports the activation as embedding."""
    report(ActivationState.GATING, "checking the candidate against the active model")
    verdict = gate_verdict(candidate)
    if verdict and not status.force:
        raise ActivationRefused(verdict)
    status.to_embed = artworks_missing_vectors(candidate).count()
    report(ActivationState.EMBEDDING, f"gate overridden: {verdict}" if verdict else "")


def switch(candidate: EmbeddingModel, prune: bool, report: Report, *, force: bool) -> str:
    """Export for the web processes, the switch gate (unless ``force``), switch (ActivationIncomplete
    unless coverage is complete), prune the replaced model if asked, and queue the stragglers; returns
    what happened, in words."""
    report(ActivationState.SWITCHING, "coverage is complete: switching")
    # Web processes encode the new model's queries from its ONNX export: it is there before they switch.
    from embeddings.encoders.onnx_export import export_for_web_processes  # PyTorch: only once a switch is near

    export_for_web_processes(candidate)
    notes = () if force else switch_gate(candidate, report)
    previous = switch_to(candidate)
    message = f"replaced {previous.name}" if previous else "no model was active before"
    for note in notes:
        message += f"; {note}"
    if previous is not None and prune:
        vectors = prune_vectors(previous)
        message += f"; pruned {vectors} vectors of {previous.name}"
    # Artworks harvested between the check and the commit were queued for the old model only.
    stragglers = list(unhandled_artworks(candidate).values_list("pk", flat=True))
    if stragglers:
        enqueue_embedding(stragglers, candidate)
        message += f"; queued {len(stragglers)} artworks that arrived meanwhile"
    return message


def switch_gate(candidate: EmbeddingModel, report: Report) -> tuple[str, ...]:
    """The gate on what the candidate's vectors do (the ranking), now that they cover the catalog;
    raises ActivationRefused, keeping them, so a later forced activation need not embed again.
    Returns the notes of the receivers that let it through."""
    # Measured on the candidate's own HNSW index, as search will walk it once it is active.
    candidate.ensure_index(m=settings.HNSW_M, ef_construction=settings.HNSW_EF_CONSTRUCTION)
    report(ActivationState.SWITCHING, "coverage is complete: checking the candidate against the active model")
    verdict = switch_verdict(candidate)
    if verdict.refusal:
        raise ActivationRefused(
            f"{verdict.refusal}; its vectors are kept: force the activation to switch without embedding again"
        )
    return verdict.notes


@contextmanager
def errors_end_it(report: Report, passing: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """An error in the block ends the activation, recorded in its status: refused, incomplete or
    failed. An unexpected one is raised on once recorded; one of ``passing`` is raised on unrecorded
    (a transient error the task is tried again for)."""
    try:
        yield
    except passing:
        raise
    except ActivationRefused as exc:
        report(ActivationState.REFUSED, str(exc))
    except ActivationIncomplete as exc:
        report(ActivationState.INCOMPLETE, str(exc))
    except (ActivationError, ModelLoadError) as exc:
        report(ActivationState.FAILED, str(exc))
    except BaseException as exc:  # an interrupted command too: a status left "embedding" would block a retry
        report(ActivationState.FAILED, f"{type(exc).__name__}: {exc}" if isinstance(exc, Exception) else "interrupted")
        raise


def _step(
    candidate: EmbeddingModel,
    status: ActivationStatus,
    gated: bool,
    resume_after: int,
    prune: bool,
    budget_seconds: float | None,
    on_status: StatusCallback | None,
) -> StepResult:
    def report(state: ActivationState, message: str = "") -> None:
        status.state, status.message, status.updated_at = state, message, time.time()
        save_status(status)
        if on_status is not None:
            on_status(status)

    candidate.refresh_from_db()
    if candidate.is_active:
        report(ActivationState.ACTIVE, "already the active model")
        return StepResult(status, resume_after, finished=True)
    with errors_end_it(report):
        if not gated:
            gate(candidate, status, report)
        resume_after = embed_pass(
            candidate, status, resume_after, budget_seconds, lambda: report(ActivationState.EMBEDDING, status.message)
        )
        if more_to_embed(candidate, resume_after):
            return StepResult(status, resume_after, finished=False)
        message = switch(candidate, prune, report, force=status.force)
        report(ActivationState.ACTIVE, message)
    return StepResult(status, resume_after, finished=True)
