"""`manage.py activate_model` stopped mid-activation never leaves it blocking the next one.

SIGTERM (a stopped `make demo`, a container shut down) is recorded at once as interrupted. SIGKILL (the OOM
killer, a lost machine) records nothing: while the command lived it renewed its lease, and a second
activation was refused; within ACTIVATION_LEASE_SECONDS of its death the activation reads as failed.
Either way the active model stays, and the command may run again."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from catalog.models import Artwork
from conftest import ROOT, TEST_MODEL_ARCH, wait_until
from embeddings.activation.errors import ActivationError
from embeddings.activation.status import ActivationStatus, activation_status, save_status
from embeddings.activation.steps import begin
from embeddings.encoders.registry import register_model
from embeddings.models import EmbeddingModel

pytestmark = pytest.mark.django_db(transaction=True)

LEASE_SECONDS = 3


def test_a_sigterm_mid_activation_is_recorded_and_a_second_run_may_start(
    aic: Any,
    harvested: list[Artwork],
    embedding_model: EmbeddingModel,
    clip_checkpoint: str,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    candidate = register_model("candidate", TEST_MODEL_ARCH, clip_checkpoint)
    with _activating(candidate, aic, worker_env, tmp_path, image_latency_s=1.0) as command:
        command.send_signal(signal.SIGTERM)
        command.wait(timeout=60)
    assert command.returncode == 128 + signal.SIGTERM, (tmp_path / "activate.log").read_text()

    status = activation_status(candidate)
    assert status is not None and (status.state, status.message) == ("failed", "interrupted")
    _assert_active_model_kept(candidate, embedding_model)
    assert begin(candidate).state == "queued"


def test_a_killed_activation_lapses_within_its_lease_and_may_start_again(
    aic: Any,
    harvested: list[Artwork],
    embedding_model: EmbeddingModel,
    clip_checkpoint: str,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    candidate = register_model("candidate", TEST_MODEL_ARCH, clip_checkpoint)
    # Every image takes 30 s to arrive: the command is still at work when it is killed.
    with _activating(candidate, aic, worker_env, tmp_path, image_latency_s=30.0) as command:
        time.sleep(2 * LEASE_SECONDS)  # past two lease lengths the command still holds it: it renews the lease
        assert command.poll() is None, (tmp_path / "activate.log").read_text()
        with pytest.raises(ActivationError, match="already being activated"):
            begin(candidate)
        command.kill()
        command.wait(timeout=60)

    wait_until(lambda: _state(candidate) == "failed", timeout=LEASE_SECONDS + 5)
    status = activation_status(candidate)
    assert status is not None and "the process running it ended without finishing" in status.message
    _assert_active_model_kept(candidate, embedding_model)
    assert begin(candidate).state == "queued"


@contextmanager
def _activating(
    candidate: EmbeddingModel, aic: Any, worker_env: dict[str, str], tmp_path: Path, *, image_latency_s: float
) -> Iterator[subprocess.Popen[bytes]]:
    """`activate_model` of ``candidate`` in a process of its own, once it is gating or embedding."""
    # Primary keys are used again after the database is emptied between tests: no earlier test's status.
    save_status(ActivationStatus(model_id=candidate.pk, model=candidate.name, state="failed", updated_at=0.0))
    # An empty image cache and a slow IIIF server: the gate's evaluation and the embedding pass, which read
    # the images, last long enough to be stopped.
    aic.latency_s = image_latency_s
    env = {
        **worker_env,
        "IMAGE_CACHE_DIR": str(tmp_path / "images"),  # not the suite's, where earlier tests left these images
        "IIIF_TIMEOUT_SECONDS": str(image_latency_s + 30),
        "AIC_IIIF_URL": aic.iiif_url,
        "ACTIVATION_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    with open(tmp_path / "activate.log", "w") as log:
        command = subprocess.Popen(
            [sys.executable, "manage.py", "activate_model", candidate.name, "--force"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: _state(candidate) in ("gating", "embedding"), timeout=60)
            yield command
        finally:
            if command.poll() is None:
                command.kill()


def _state(model: EmbeddingModel) -> str | None:
    """The state of the model's activation, once the command has recorded one."""
    status = activation_status(model)
    return status.state if status is not None and status.updated_at > 0 else None


def _assert_active_model_kept(candidate: EmbeddingModel, active: EmbeddingModel) -> None:
    candidate.refresh_from_db()
    active.refresh_from_db()
    assert not candidate.is_active and active.is_active
