"""Watcher steps of one activation that run at once (a redelivered step beside its successor) switch once.

The steps run here, in threads with a connection each, as two workers would run them; the step that
finds the model's lock taken is sent again, and finds the activation over."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from django.db import connection

from catalog.models import Artwork
from conftest import TEST_MODEL_ARCH
from embeddings.activation.fan_out import watch
from embeddings.activation.states import ActivationState
from embeddings.activation.status import ActivationStatus, activation_status, save_status
from embeddings.activation.steps import begin
from embeddings.encoders.registry import register_model
from embeddings.models import EmbeddingModel
from embeddings.pipeline import embed_artworks

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "current-step"


def test_two_watcher_steps_at_once_switch_once_and_a_stale_one_stands_down(
    indexed: list[Artwork], embedding_model: EmbeddingModel, clip_checkpoint: str, caplog: Any
) -> None:
    candidate = register_model("candidate", TEST_MODEL_ARCH, clip_checkpoint)
    assert len(embed_artworks([artwork.pk for artwork in indexed], candidate).embedded) == len(indexed)
    status = begin(candidate, force=True)
    # Every batch is queued and embedded: the next watcher step switches.
    status.state, status.watch_token, status.embedding_since = ActivationState.EMBEDDING, TOKEN, time.time() - 60
    status.queued_through = indexed[-1].pk
    save_status(status)

    sent: list[tuple[str, float]] = []
    # A step an older one queued (its token replaced since) stands down: no switch, no successor.
    stale = watch(candidate, "an-older-step", prune=False, send_next=_send(sent))
    assert stale is not None and stale.state == "embedding" and not sent
    assert EmbeddingModel.active() == embedding_model

    results: list[ActivationStatus | None] = []
    together = threading.Barrier(2)

    def step() -> None:
        try:
            together.wait()
            results.append(
                watch(EmbeddingModel.objects.get(pk=candidate.pk), TOKEN, prune=False, send_next=_send(sent))
            )
        finally:
            connection.close()

    caplog.set_level(logging.INFO, logger="embeddings.activation.switch")
    threads = [threading.Thread(target=step) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert EmbeddingModel.active() == candidate
    assert _switches(caplog) == ["model candidate is active (was micro)"]
    # The other step stood down: it found the lock taken (and was sent again, with the same token) or
    # found the activation over; either way it queued no successor of its own.
    assert len(results) == 2
    assert all(result is None or result.state == "active" for result in results)
    assert all(token == TOKEN for token, _ in sent)
    for token, _ in sent:  # the step sent again runs, and switches nothing
        again = watch(candidate, token, prune=False, send_next=_send(sent))
        assert again is not None and again.state == "active"
    assert _switches(caplog) == ["model candidate is active (was micro)"]
    final = activation_status(candidate)
    assert final is not None and final.state == "active" and final.message == "replaced micro"
    assert (final.done, final.embedded) == (len(indexed), len(indexed))


def _send(sent: list[tuple[str, float]]) -> Any:
    def send_next(token: str, countdown: float) -> None:
        sent.append((token, countdown))

    return send_next


def _switches(caplog: Any) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.getMessage().startswith("model candidate is")]
