"""Fine-tuning runs as jobs: queued from the admin, run by a worker on the train queue, progress in the database.

When a job ends, succeeded or failed, its output folder goes to the artifact store under
``training/job-<id>/`` (``training.storage``), where any host finds it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from core.artifacts import ArtifactError
from embeddings.models import EmbeddingModel
from training.models import TrainingJob
from training.options import TrainingError, TrainingProgress, TrainOptions
from training.paths import TrainingPathError, dataset_csv, job_weights, output_dir, training_root
from training.storage import publish_job_outputs

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 2.0  # at most one progress write per this many seconds (plus one per epoch)


def run_job(job_id: int) -> TrainingJob | None:
    """Claim the queued job and train; None when another worker has it or it is not queued.

    Failures are recorded on the job (status, error), not raised: the job is the place to look.
    """
    now = timezone.now()
    claimed = TrainingJob.objects.filter(pk=job_id, status=TrainingJob.Status.QUEUED).update(
        status=TrainingJob.Status.RUNNING, started_at=now, heartbeat_at=now, message="starting"
    )
    if not claimed:
        logger.info("training job %s is not queued any more: skipped", job_id)
        return None
    job = TrainingJob.objects.get(pk=job_id)
    reporter = ProgressWriter(job.pk)
    # Imported here: the site's web processes import this module and never train.
    from training.finetune import finetune

    out_dir = None
    try:
        # Checked again here: the row may have been written by something other than the admin's form.
        out_dir = output_dir(job.out_dir) if job.out_dir.strip() else training_root() / f"job-{job.pk}"
        csv_path = dataset_csv(job.csv_path) if job.source == TrainingJob.Source.CSV else None
        report = finetune(
            architecture=job.architecture,
            pretrained=job_weights(job.pretrained),
            out_dir=out_dir,
            csv_path=csv_path,
            from_catalog=job.source == TrainingJob.Source.CATALOG,
            caption_template=job.caption_template or None,
            options=TrainOptions.from_dict(job.options or {}),
            device=job.device,
            val_fraction=job.val_fraction,
            test_fraction=job.test_fraction,
            register_name=job.register_name or None,
            images_under=training_root(),
            progress=reporter.line,
            on_progress=reporter.step,
        )
    except SoftTimeLimitExceeded:
        _finish(
            job.pk,
            TrainingJob.Status.FAILED,
            error=f"stopped at the time limit ({settings.TRAINING_TIME_LIMIT_SECONDS} s)",
        )
    except Exception as exc:
        logger.exception("training job %s failed", job.pk)
        _finish(job.pk, TrainingJob.Status.FAILED, error=job_error(job.pk, exc))
    else:
        registered = EmbeddingModel.objects.filter(name=job.register_name).first() if job.register_name else None
        _finish(job.pk, TrainingJob.Status.SUCCEEDED, report=report, registered_model=registered, out_dir=str(out_dir))
    if out_dir is not None:
        _publish_outputs(job.pk, out_dir)
    return TrainingJob.objects.get(pk=job.pk)


def _publish_outputs(job_id: int, out_dir: Path) -> None:
    try:
        keys = publish_job_outputs(job_id, out_dir)
    except ArtifactError as exc:
        # The run's outcome stands and its files are on this host; the page says what is not shared.
        logger.warning("training job %s: outputs not stored: %s", job_id, exc)
        TrainingJob.objects.filter(pk=job_id).update(message=f"outputs not stored: {exc}"[:500])
        return
    if keys:
        logger.info("training job %s: %d output files stored", job_id, len(keys))


def job_error(job_id: int, exc: Exception) -> str:
    """What the job's page says about a failure. Our own errors are written not to quote the files they
    read; anything else (a library's message may quote a line of an input) gives only its type."""
    from embeddings.encoders.types import ModelLoadError
    from training.datasets import DatasetError

    if isinstance(exc, (DatasetError, TrainingError, TrainingPathError, ModelLoadError, ArtifactError, OSError)):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__} (details in the train worker's log for job {job_id})"


def _finish(job_id: int, status: str, **fields: object) -> None:
    now = timezone.now()
    TrainingJob.objects.filter(pk=job_id).update(
        status=status, finished_at=now, heartbeat_at=now, eta_seconds=None, **fields
    )


class ProgressWriter:
    """Writes a job's progress to its row: every epoch change, otherwise at most every few seconds."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.last_write = 0.0
        self.last_epoch = 0

    def step(self, progress: TrainingProgress) -> None:
        now = time.monotonic()
        if progress.epoch == self.last_epoch and now - self.last_write < PROGRESS_INTERVAL_SECONDS:
            return
        self.last_write, self.last_epoch = now, progress.epoch
        TrainingJob.objects.filter(pk=self.job_id).update(
            epoch=progress.epoch,
            epochs=progress.epochs,
            step=progress.step,
            total_steps=progress.total_steps,
            loss=progress.loss,
            eta_seconds=progress.eta_seconds,
            heartbeat_at=timezone.now(),
        )

    def line(self, text: str) -> None:
        logger.info("training job %s: %s", self.job_id, text)
        TrainingJob.objects.filter(pk=self.job_id).update(message=text[:500], heartbeat_at=timezone.now())
