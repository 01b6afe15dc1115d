"""`manage.py activate_model` stopped with SIGTERM (as the demo and container shutdowns stop it) records the
activation as interrupted, so running it again is not refused as one already under way."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from catalog.models import Artwork
from conftest import ROOT, TEST_MODEL_ARCH, wait_until
from embeddings.lifecycle import ActivationStatus, activation_status, begin, save_status
from embeddings.models import EmbeddingModel
from embeddings.registry import register_model

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_sigterm_mid_activation_is_recorded_and_a_second_run_may_start(
    aic: Any,
    harvested: list[Artwork],
    embedding_model: EmbeddingModel,
    clip_checkpoint: str,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    candidate = register_model("candidate", TEST_MODEL_ARCH, clip_checkpoint)
    # Primary keys are used again after the database is emptied between tests: no earlier test's status.
    save_status(ActivationStatus(model_id=candidate.pk, model=candidate.name, state="failed"))
    # An empty image cache and a slow IIIF server: the gate's evaluation and the embedding pass, which read
    # the images, last long enough to be stopped.
    aic.latency_s = 1.0
    env = {**worker_env, "IMAGE_CACHE_DIR": str(tmp_path / "images"), "AIC_IIIF_URL": aic.iiif_url}
    started = time.time()
    with open(tmp_path / "activate.log", "w") as log:
        command = subprocess.Popen(
            [sys.executable, "manage.py", "activate_model", "candidate", "--force"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: _state(candidate, since=started) in ("gating", "embedding"), timeout=60)
            command.send_signal(signal.SIGTERM)
            command.wait(timeout=60)
        finally:
            if command.poll() is None:
                command.kill()
    assert command.returncode == 128 + signal.SIGTERM, (tmp_path / "activate.log").read_text()

    status = activation_status(candidate)
    assert status is not None and (status.state, status.message) == ("failed", "interrupted")
    candidate.refresh_from_db()
    embedding_model.refresh_from_db()
    assert not candidate.is_active and embedding_model.is_active
    assert begin(candidate).state == "queued"  # before, it was refused as "already being activated"


def _state(model: EmbeddingModel, *, since: float) -> str | None:
    """The state of the model's activation as recorded after ``since``."""
    status = activation_status(model)
    return status.state if status is not None and status.updated_at >= since else None
