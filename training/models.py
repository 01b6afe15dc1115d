"""Fine-tuning runs queued from the admin, and the retrieval evaluations shown on a model's page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import models
from django.utils import timezone

from embeddings.models import EmbeddingModel


class TrainingJob(models.Model):
    """One fine-tuning run on the train queue, with the progress its worker last reported."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Source(models.TextChoices):
        CATALOG = "catalog", "the catalog (visible artworks with an image)"
        CSV = "csv", "a CSV file (filepath,title)"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    architecture = models.CharField(max_length=100, help_text="open_clip architecture, e.g. ViT-B-32")
    pretrained = models.CharField(max_length=500, help_text="pretrained tag, checkpoint path, or 'none'")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.CATALOG)
    csv_path = models.CharField(max_length=500, blank=True, help_text="for a CSV source, its path on the worker")
    caption_template = models.CharField(
        max_length=500, blank=True, help_text="catalog source: str.format over Artwork fields; empty = default caption"
    )
    options = models.JSONField(default=dict, blank=True, help_text="training options (TrainOptions fields)")
    device = models.CharField(max_length=32, default="auto")
    val_fraction = models.FloatField(default=0.1)
    test_fraction = models.FloatField(default=0.2)
    register_name = models.SlugField(max_length=100, blank=True, help_text="register the result under this name")
    out_dir = models.CharField(max_length=500, blank=True, help_text="empty: TRAINING_DIR/job-<id>")

    epoch = models.PositiveIntegerField(default=0)
    epochs = models.PositiveIntegerField(default=0)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True, help_text="the worker's latest line")
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    report = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    registered_model = models.ForeignKey(
        EmbeddingModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_jobs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # Adding a job queues it: a run spends hours of GPU and registers a model, so it is granted on its own.
        permissions = [("run_trainingjob", "Can queue a training job (add one, or queue a failed one again)")]

    def __str__(self) -> str:
        return f"training job {self.pk} ({self.architecture} from {self.pretrained}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    def is_stale(self, after: timedelta = timedelta(minutes=10)) -> bool:
        """A running job whose worker has not reported for a while: it probably died."""
        if self.status != self.Status.RUNNING or self.heartbeat_at is None:
            return False
        return timezone.now() - self.heartbeat_at > after


class EvaluationReport(models.Model):
    """Retrieval quality of one model on one split, with its plots (PNG)."""

    model = models.ForeignKey(EmbeddingModel, on_delete=models.CASCADE, related_name="evaluation_reports")
    split = models.CharField(max_length=16)
    source = models.CharField(max_length=500, help_text="where the pairs came from (catalog or a CSV path)")
    caption_template = models.CharField(max_length=500, blank=True)
    pairs = models.PositiveIntegerField()
    metrics = models.JSONField(help_text="whole-split recall@1/5/10 and median rank, both directions")
    in_batch = models.JSONField(default=dict, help_text="the original project's in-batch recall@k")
    baseline_name = models.CharField(max_length=200, blank=True)
    baseline_metrics = models.JSONField(null=True, blank=True)
    report = models.JSONField(help_text="the whole JSON report")
    loss_plot = models.BinaryField(null=True, blank=True, editable=False)
    recall_plot = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["model", "split", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.model} on {self.split} ({self.pairs} pairs)"

    @property
    def t2i_recall_at_5(self) -> float | None:
        value: Any = self.metrics.get("t2i_recall@5")
        return float(value) if value is not None else None
