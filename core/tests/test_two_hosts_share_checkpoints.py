"""Two hosts, one store: a model fine-tuned by a job on host A is registered by its checkpoint's content,
and host B, which never saw A's disk, loads it; the job's outputs are in the store under its id."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TEST_MODEL_ARCH
from core.artifacts import file_sha256, model_artifacts_dir
from embeddings.encoders.clip import ImageEncoder
from embeddings.encoders.types import ModelLoadError, Spec
from embeddings.models import EmbeddingModel
from training.jobs import run_job
from training.models import TrainingJob

pytestmark = pytest.mark.django_db


def _squares_csv(folder: Path) -> Path:
    """Twelve coloured squares and their captions."""
    folder.mkdir(parents=True)
    rows = []
    for name, colour in {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (30, 60, 220)}.items():
        for shade in range(4):
            Image.new("RGB", (40, 40), tuple(max(0, c - 40 * shade) for c in colour)).save(
                folder / f"{name}{shade}.png"
            )
            rows.append({"filepath": f"{name}{shade}.png", "title": f"a {'dark ' * shade}{name} square"})
    path = folder / "pairs.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["filepath", "title"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _on_host(settings: Any, folder: Path) -> None:
    settings.TRAINING_DIR = folder / "training"
    settings.MODEL_CACHE_DIR = folder / "models"


def test_a_model_fine_tuned_on_one_host_loads_on_another(s3_store: Any, settings: Any, tmp_path: Path) -> None:
    _on_host(settings, tmp_path / "host-a")
    pairs = _squares_csv(tmp_path / "host-a" / "training" / "datasets" / "squares")
    job = TrainingJob.objects.create(
        architecture=TEST_MODEL_ARCH,
        pretrained="none",
        source=TrainingJob.Source.CSV,
        csv_path=str(pairs),
        options={"epochs": 1, "batch_size": 4, "lr": 1e-3},
        device="cpu",
        register_name="tuned-on-a",
    )
    finished = run_job(job.pk)
    assert finished is not None and finished.status == TrainingJob.Status.SUCCEEDED, finished and finished.error
    checkpoint = Path(finished.out_dir) / "checkpoint.pt"
    key = f"checkpoints/{file_sha256(checkpoint)}.pt"
    model = EmbeddingModel.objects.get(name="tuned-on-a")
    assert model.pretrained == f"artifact:{key}"
    assert s3_store.list_keys(f"training/job-{job.pk}/") == [
        f"training/job-{job.pk}/{name}" for name in ("checkpoint.pt", "loss.png", "recall.png", "report.json")
    ]
    image = Image.new("RGB", (64, 64), (220, 30, 30))
    encoder_a = ImageEncoder(model, torch.device("cpu"))
    vector_a = encoder_a.encode(encoder_a.preprocess_image(image).unsqueeze(0))
    shutil.rmtree(tmp_path / "host-a")  # nothing of host A's disk reaches host B

    _on_host(settings, tmp_path / "host-b")
    encoder_b = ImageEncoder(EmbeddingModel.objects.get(name="tuned-on-a"), torch.device("cpu"))

    vector_b = encoder_b.encode(encoder_b.preprocess_image(image).unsqueeze(0))
    assert np.array_equal(vector_a, vector_b)
    local = model_artifacts_dir() / key
    assert local.is_relative_to(tmp_path / "host-b") and file_sha256(local) == key.split("/")[1].removesuffix(".pt")


def test_a_checkpoint_missing_from_the_store_names_the_key_and_the_store(s3_store: Any) -> None:
    missing = "artifact:checkpoints/" + "0" * 64 + ".pt"

    with pytest.raises(ModelLoadError) as raised:
        ImageEncoder(Spec(TEST_MODEL_ARCH, missing), torch.device("cpu"))

    assert "checkpoints/" + "0" * 64 + ".pt" in str(raised.value)
    assert s3_store.location in str(raised.value)
