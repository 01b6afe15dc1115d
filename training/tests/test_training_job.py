"""Fine-tuning as a job: queued from the admin, trained by a real worker on the train queue, progress kept."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from PIL import Image

from conftest import WorkerProcess, wait_until
from embeddings.models import EmbeddingModel
from training.jobs import ProgressWriter
from training.models import TrainingJob
from training.options import TrainingProgress
from training.tasks import queue_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def train_worker(
    worker_env: dict[str, str], redis_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A real Celery worker consuming the train queue only (the GPU training worker's queue)."""
    worker = WorkerProcess(worker_env, "train", tmp_path_factory.mktemp("train-worker") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def job_dir(settings: Any, tmp_path: Path) -> Path:
    """A folder of this test's own inside TRAINING_DIR, where jobs may read and write."""
    folder = Path(settings.TRAINING_DIR) / "datasets" / tmp_path.name
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def pairs_csv(job_dir: Path) -> Path:
    """Twelve coloured squares and their captions."""
    colours = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (30, 60, 220), "yellow": (240, 220, 40)}
    rows = []
    for name, colour in colours.items():
        for shade in range(3):
            path = job_dir / f"{name}-{shade}.png"
            Image.new("RGB", (40, 40), tuple(max(0, c - 40 * shade) for c in colour)).save(path)
            rows.append({"filepath": path.name, "title": f"a {'dark ' * shade}{name} square"})
    csv_path = job_dir / "pairs.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["filepath", "title"])
        writer.writeheader()
        writer.writerows(rows)
    return csv_path


def _finished(job_id: int) -> bool:
    return TrainingJob.objects.get(pk=job_id).is_finished


def test_a_job_added_in_the_admin_trains_on_a_worker_and_reports_progress(
    train_worker: WorkerProcess, admin_client: Client, pairs_csv: Path, job_dir: Path
) -> None:
    response = admin_client.post(
        "/admin/training/trainingjob/add/",
        {
            "architecture": "museum-micro",
            "pretrained": "none",
            "source": "csv",
            "csv_path": str(pairs_csv),
            "caption_template": "",
            "options": json.dumps({"epochs": 3, "batch_size": 4, "lr": 1e-3, "accumulation_steps": 2}),
            "device": "cpu",
            "val_fraction": "0.1",
            "test_fraction": "0.2",
            "register_name": "micro-job",
            "out_dir": str(job_dir / "job"),
        },
    )
    assert response.status_code == 302
    job = TrainingJob.objects.get()

    wait_until(lambda: _finished(job.pk), timeout=180)

    job.refresh_from_db()
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    assert (job.epoch, job.epochs) == (3, 3)
    assert job.step == job.total_steps > 0 and job.loss is not None
    assert job.report is not None and job.report["options"]["accumulation_steps"] == 2
    assert job.registered_model == EmbeddingModel.objects.get(name="micro-job")
    assert not job.registered_model.is_active
    assert (job_dir / "job" / "checkpoint.pt").is_file()
    page = admin_client.get(f"/admin/training/trainingjob/{job.pk}/change/").content.decode()
    assert "epoch 3/3" in page and "t2i_recall@5" in page


def test_a_job_that_cannot_train_fails_with_its_reason(train_worker: WorkerProcess, job_dir: Path) -> None:
    job = TrainingJob.objects.create(
        architecture="museum-micro",
        pretrained="none",
        source=TrainingJob.Source.CSV,
        csv_path=str(job_dir / "missing.csv"),
        options={"epochs": 1, "batch_size": 4},
    )
    queue_job(job)

    wait_until(lambda: _finished(job.pk), timeout=120)

    job.refresh_from_db()
    assert job.status == TrainingJob.Status.FAILED
    assert "does not exist" in job.error


def test_the_admin_refuses_unknown_training_options(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/training/trainingjob/add/",
        {
            "architecture": "museum-micro",
            "pretrained": "none",
            "source": "catalog",
            "options": json.dumps({"epochs": 1, "learning_rate": 0.1}),
            "device": "cpu",
            "val_fraction": "0.1",
            "test_fraction": "0.2",
        },
    )

    assert response.status_code == 200
    assert "unknown training option(s) learning_rate" in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_the_admin_shows_a_running_jobs_epoch_loss_and_time_left(admin_client: Client) -> None:
    job = TrainingJob.objects.create(
        architecture="museum-micro", pretrained="none", status=TrainingJob.Status.RUNNING, options={"epochs": 5}
    )
    writer = ProgressWriter(job.pk)

    writer.step(
        TrainingProgress(epoch=2, epochs=5, step=7, total_steps=20, loss=1.5, elapsed_seconds=10.0, eta_seconds=30.0)
    )

    listing = admin_client.get("/admin/training/trainingjob/").content.decode()
    assert "epoch 2/5, step 7/20, loss 1.5000, about 30 s left" in listing
