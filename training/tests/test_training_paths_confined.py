"""Training jobs read and write only under TRAINING_DIR, and their errors never quote a file they read.

Each bad path is refused twice: by the admin's form, and by the worker's job runner, which does not
trust the row (anything that can write the database could have put the path there).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from PIL import Image

from training.datasets import examples_from_csv
from training.jobs import run_job
from training.models import TrainingJob
from training.paths import training_root

pytestmark = pytest.mark.django_db

MARKER = "SECRET-MARKER-7f3a"


@pytest.fixture
def datasets(settings: Any, tmp_path: Path) -> Path:
    """This test's own folder under TRAINING_DIR/datasets."""
    folder = Path(settings.TRAINING_DIR) / "datasets" / tmp_path.name
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside TRAINING_DIR that reads like a CSV header, as /proc/self/environ would."""
    path = tmp_path / "outside" / "environ"
    path.parent.mkdir()
    path.write_text(f"DATABASE_PASSWORD={MARKER},HOME=/root\n{MARKER},{MARKER}\n")
    return path


def _bad_inputs(datasets: Path, secret: Path, tmp_path: Path) -> list[dict[str, str]]:
    link = datasets / "leak.csv"
    link.symlink_to(secret)
    out_link = datasets / "out-link"
    out_link.symlink_to(tmp_path / "outside", target_is_directory=True)
    return [
        {"csv_path": "/proc/self/environ"},
        {"csv_path": "../../etc/passwd"},
        {"csv_path": str(secret)},
        {"csv_path": str(link)},
        {"out_dir": "/tmp/x"},
        {"out_dir": str(out_link / "job")},
        {"out_dir": "datasets/../../escape"},
        {"pretrained": str(secret.with_suffix(".pt"))},
    ]


def _form(**fields: str) -> dict[str, str]:
    return {
        "architecture": "museum-micro",
        "pretrained": "none",
        "source": "csv",
        "csv_path": "",
        "caption_template": "",
        "options": json.dumps({"epochs": 1, "batch_size": 4}),
        "device": "cpu",
        "val_fraction": "0.1",
        "test_fraction": "0.2",
        "register_name": "",
        "out_dir": "",
        **fields,
    }


def _pairs_csv(folder: Path, header: str = "filepath,title") -> Path:
    for index in range(4):
        Image.new("RGB", (32, 32), (60 * index, 20, 200)).save(folder / f"square-{index}.png")
    path = folder / "pairs.csv"
    rows = "".join(f"square-{index}.png,square number {index}\n" for index in range(4))
    path.write_text(f"{header}\n{rows}")
    return path


def test_the_admin_refuses_paths_outside_training_dir(
    admin_client: Client, datasets: Path, secret: Path, tmp_path: Path
) -> None:
    good_csv = _pairs_csv(datasets)
    for bad in _bad_inputs(datasets, secret, tmp_path):
        fields = {"csv_path": str(good_csv), **bad}
        response = admin_client.post("/admin/training/trainingjob/add/", _form(**fields))
        page = response.content.decode()
        assert response.status_code == 200, bad
        assert "TRAINING_DIR" in page or "may not contain" in page, bad
        assert MARKER not in page, bad
    assert not TrainingJob.objects.exists()
    assert not Path("/tmp/x/checkpoint.pt").exists()


def test_the_admin_accepts_a_dataset_and_folder_inside_training_dir(
    admin_client: Client, datasets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("training.admin.queue_job", lambda job: None)
    relative = _pairs_csv(datasets).relative_to(training_root())
    response = admin_client.post(
        "/admin/training/trainingjob/add/", _form(csv_path=str(relative), out_dir=str(datasets / "run"))
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert TrainingJob.objects.get().csv_path == str(relative)


def test_the_worker_refuses_paths_outside_training_dir_from_the_row(
    datasets: Path, secret: Path, tmp_path: Path
) -> None:
    good_csv = _pairs_csv(datasets)
    for bad in _bad_inputs(datasets, secret, tmp_path):
        fields = {"csv_path": str(good_csv), **bad}
        job = TrainingJob.objects.create(
            architecture="museum-micro", source=TrainingJob.Source.CSV, options={"epochs": 1, "batch_size": 2}, **fields
        )
        finished = run_job(job.pk)
        assert finished is not None and finished.status == TrainingJob.Status.FAILED, bad
        assert "TrainingPathError" in finished.error, (bad, finished.error)
        assert MARKER not in finished.error and MARKER not in finished.message, bad
    assert not (tmp_path / "outside" / "job").exists()


def test_a_file_that_is_not_a_csv_fails_without_quoting_it(datasets: Path) -> None:
    not_csv = datasets / "notes.csv"
    not_csv.write_text(f"password={MARKER};user=root\n{MARKER}\n")
    binary = datasets / "binary.csv"
    binary.write_bytes(b"filepath,title\n" + MARKER.encode() + b",\xff\xfe caption\n")
    for path, reason in [(not_csv, "lacks column(s) filepath, title"), (binary, "not UTF-8")]:
        job = TrainingJob.objects.create(
            architecture="museum-micro",
            pretrained="none",
            source=TrainingJob.Source.CSV,
            csv_path=str(path.relative_to(training_root())),
            options={"epochs": 1, "batch_size": 2},
            device="cpu",
        )
        finished = run_job(job.pk)
        assert finished is not None and finished.status == TrainingJob.Status.FAILED
        assert path.name in finished.error and reason in finished.error, finished.error
        assert MARKER not in finished.error and MARKER not in finished.message


def test_images_a_jobs_csv_names_outside_training_dir_are_skipped(datasets: Path, tmp_path: Path) -> None:
    csv_path = _pairs_csv(datasets)
    Image.new("RGB", (32, 32), (1, 2, 3)).save(tmp_path / "private.png")
    outside = Path("..") / ".." / ".." / ".." / "private.png"
    with csv_path.open("a") as handle:
        handle.write(f"{tmp_path / 'private.png'},an absolute path out\n{outside},a relative path out\n")

    dataset = examples_from_csv(csv_path, images_under=training_root())

    assert len(dataset.examples) == 4
    assert [item.reason for item in dataset.skipped] == ["outside TRAINING_DIR", "outside TRAINING_DIR"]
