"""The switch: the candidate becomes the active model in one transaction, only if its coverage is complete."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection, transaction

from embeddings.activation.coverage import coverage, describe_shortfall
from embeddings.activation.errors import ActivationIncomplete
from embeddings.models import EmbeddingModel

logger = logging.getLogger(__name__)

_SWITCH_LOCK = 0x6D6F64656C  # pg advisory lock key: one switch at a time


def switch_to(candidate: EmbeddingModel) -> EmbeddingModel | None:
    """Make ``candidate`` active if its coverage is complete; returns the model it replaced.

    The check and the switch share one transaction, under a lock that serialises switches, so search
    goes from the old model's complete index to the new one's in one commit.
    """
    candidate.ensure_index(m=settings.HNSW_M, ef_construction=settings.HNSW_EF_CONSTRUCTION)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SWITCH_LOCK])
        previous = EmbeddingModel.active()
        found = coverage(candidate, previous)
        if not found.complete:
            raise ActivationIncomplete(describe_shortfall(candidate, previous, found))
        candidate.activate()
    logger.info("model %s is active (was %s)", candidate.name, previous.name if previous else "none")
    return previous if previous is not None and previous.pk != candidate.pk else None
