"""The states an activation goes through, as stored in Redis and shown in the admin."""

from __future__ import annotations

from enum import StrEnum


class ActivationState(StrEnum):
    QUEUED = "queued"
    GATING = "gating"
    EMBEDDING = "embedding"
    SWITCHING = "switching"
    ACTIVE = "active"
    REFUSED = "refused"
    INCOMPLETE = "incomplete"
    FAILED = "failed"


# An activation in one of these states is under way: a second one of the same model is refused.
IN_PROGRESS = (ActivationState.QUEUED, ActivationState.GATING, ActivationState.EMBEDDING, ActivationState.SWITCHING)
