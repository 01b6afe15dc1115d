"""What a fine-tuning run leaves in the artifact store, for every host.

Its checkpoint under ``checkpoints/<sha256>.pt`` (the registered model's weights are then
``artifact:checkpoints/<sha256>.pt``, which any host loads, not a path on the one that trained),
and the whole output folder of a job (checkpoint, report, plots) under ``training/job-<id>/``.
"""

from __future__ import annotations

from pathlib import Path

from core.artifacts import artifact_store, file_sha256, keep_local_copy, model_artifacts_dir, reference


def checkpoint_key(checkpoint: Path) -> str:
    return f"checkpoints/{file_sha256(checkpoint)}.pt"


def publish_checkpoint(checkpoint: Path) -> str:
    """Store ``checkpoint`` by its content; the ``pretrained`` value that names it on every host.

    This host's copy goes where a download would put it, so loading it here downloads nothing.
    """
    key = checkpoint_key(checkpoint)
    store = artifact_store()
    if not store.exists(key):
        store.upload(checkpoint, key)
    keep_local_copy(checkpoint, key, model_artifacts_dir())
    return reference(key)


def job_prefix(job_id: int) -> str:
    return f"training/job-{job_id}"


def publish_job_outputs(job_id: int, out_dir: Path) -> list[str]:
    """Store every file of the job's output folder under ``training/job-<id>/``; the keys written."""
    if not out_dir.is_dir():
        return []
    return artifact_store().upload_folder(out_dir, job_prefix(job_id))
