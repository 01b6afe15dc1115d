"""`manage.py activate_model` killed outright (SIGKILL: the OOM killer, a lost machine) cannot record anything;
its lease lapses within ACTIVATION_LEASE_SECONDS, and then the activation reads as failed and may start again.
While the command lives, it renews the lease and a second activation is refused."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from catalog.models import Artwork
from conftest import ROOT, TEST_MODEL_ARCH, wait_until
from embeddings.lifecycle import ActivationError, ActivationStatus, activation_status, begin, save_status
from embeddings.models import EmbeddingModel
from embeddings.registry import register_model

pytestmark = pytest.mark.django_db(transaction=True)

LEASE_SECONDS = 3


def test_a_killed_activation_lapses_within_its_lease_and_may_start_again(
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
    # An empty image cache and a slow IIIF server keep the command gating and embedding for a while.
    aic.latency_s = 1.0
    env = {
        **worker_env,
        "IMAGE_CACHE_DIR": str(tmp_path / "images"),
        "AIC_IIIF_URL": aic.iiif_url,
        "ACTIVATION_LEASE_SECONDS": str(LEASE_SECONDS),
    }
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
            # Past two lease lengths the command still holds it: it renews the lease as it works.
            time.sleep(2 * LEASE_SECONDS)
            assert command.poll() is None, (tmp_path / "activate.log").read_text()
            with pytest.raises(ActivationError, match="already being activated"):
                begin(candidate)
            command.kill()
            command.wait(timeout=60)
        finally:
            if command.poll() is None:
                command.kill()

    wait_until(lambda: _state(candidate, since=started) == "failed", timeout=LEASE_SECONDS + 5)
    status = activation_status(candidate)
    assert status is not None and "the process running it ended without finishing" in status.message
    candidate.refresh_from_db()
    embedding_model.refresh_from_db()
    assert not candidate.is_active and embedding_model.is_active
    assert begin(candidate).state == "queued"


def _state(model: EmbeddingModel, *, since: float) -> str | None:
    """The state of the model's activation as recorded after ``since``."""
    status = activation_status(model)
    return status.state if status is not None and status.updated_at >= since else None
