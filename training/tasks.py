from __future__ import annotations

from celery import shared_task
from django.conf import settings

from training.jobs import run_job


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
