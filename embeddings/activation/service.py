"""Activating a model: the whole activation in this process, or fanned out over the embed workers."""

from __future__ import annotations

from celery import current_app

from embeddings.activation.errors import ActivationError, ActivationIncomplete, ActivationRefused
from embeddings.activation.lease import queue_hold_seconds
from embeddings.activation.states import ActivationState
from embeddings.activation.status import ActivationStatus
from embeddings.activation.steps import StatusCallback, begin, run_step
from embeddings.models import EmbeddingModel

# Sent by name: the task module imports this app's services, never the other way round.
ACTIVATE_TASK = "embeddings.tasks.activate_model_task"


def activate(
    candidate: EmbeddingModel,
    *,
    force: bool = False,
    prune: bool = False,
    on_status: StatusCallback | None = None,
) -> ActivationStatus:
    """The whole activation in this process. Raises ActivationError (refused, incomplete) and leaves
    the active model in place."""
    status = begin(candidate, force=force)
    step = run_step(candidate, status, gated=False, prune=prune, on_status=on_status)
    while not step.finished:
        step = run_step(
            candidate, step.status, gated=True, resume_after=step.resume_after, prune=prune, on_status=on_status
        )
    if step.status.state != ActivationState.ACTIVE:
        raise _error_for(step.status)
    return step.status


def request_activation(candidate: EmbeddingModel, *, force: bool = False, prune: bool = False) -> ActivationStatus:
    """Queue the activation on the embed workers (the admin's action): its first step gates the
    candidate, then its batches are queued for every embed worker to take (``fan_out``). Returns its
    queued status."""
    status = begin(candidate, force=force, hold_seconds=queue_hold_seconds())
    current_app.send_task(ACTIVATE_TASK, args=[candidate.pk], kwargs={"force": force, "prune": prune})
    return status


def _error_for(status: ActivationStatus) -> ActivationError:
    if status.state == ActivationState.REFUSED:
        return ActivationRefused(status.message)
    if status.state == ActivationState.INCOMPLETE:
        return ActivationIncomplete(status.message)
    return ActivationError(status.message or f"activation ended as {status.state}")
