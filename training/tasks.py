"""The training queue's task, and queueing a saved job onto it."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import transaction

from training.jobs import run_job
from training.models import TrainingJob


# Acknowledged on receipt, unlike the other tasks: a training run outlives the broker's visibility
# timeout, and a redelivery would start a second copy while the first still trains. A job whose
# worker died shows a stale heartbeat in the admin, which can queue it again.
@shared_task(
    acks_late=False,
    soft_time_limit=settings.TRAINING_TIME_LIMIT_SECONDS,
    time_limit=settings.TRAINING_TIME_LIMIT_SECONDS + 60,
)
def finetune_task(job_id: int) -> str:
    """Run one queued fine-tuning job (train queue); its progress and outcome are on the job."""
    job = run_job(job_id)
    return job.status if job is not None else "skipped"


def queue_job(job: TrainingJob) -> None:
    """Send a saved job to the train queue once the transaction that saved it commits."""
    transaction.on_commit(lambda: finetune_task.delay(job.pk))


def requeue_job(job: TrainingJob) -> bool:
    """Queue a failed (or stale) job again; False when it is queued, running and alive, or succeeded."""
    if not (job.status == TrainingJob.Status.FAILED or job.is_stale()):
        return False
    TrainingJob.objects.filter(pk=job.pk).update(
        status=TrainingJob.Status.QUEUED, error="", message="queued again", heartbeat_at=None, finished_at=None
    )
    queue_job(job)
    return True
