from __future__ import annotations

import base64
import json
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from embeddings.admin import EmbeddingModelAdmin
from embeddings.models import EmbeddingModel
from training.datasets import DatasetError, check_caption_template
from training.models import EvaluationReport, TrainingJob
from training.options import TrainingError, TrainOptions
from training.paths import TrainingPathError, dataset_csv, job_weights, output_dir
from training.tasks import queue_job, requeue_job

_SUMMARY_METRICS = ("t2i_recall@1", "t2i_recall@5", "t2i_recall@10", "i2t_recall@5", "t2i_median_rank")


def _plot(png: bytes | memoryview | None, alt: str) -> SafeString | str:
    if not png:
        return "-"
    encoded = base64.b64encode(bytes(png)).decode("ascii")
    return format_html('<img src="data:image/png;base64,{}" alt="{}" width="640">', encoded, alt)


def _metrics_table(metrics: dict[str, Any] | None, baseline: dict[str, Any] | None = None) -> SafeString | str:
    if not metrics:
        return "-"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (name, f"{baseline[name]:.3f}" if baseline and name in baseline else "", f"{value:.3f}")
            for name, value in metrics.items()
        ),
    )
    return format_html("<table><tr><th>metric</th><th>baseline</th><th>this model</th></tr>{}</table>", rows)


_INLINE_FIELDS = ("created_at", "split", "source", "pairs", "baseline_name", "summary", "recall_chart", "loss_chart")
_REPORT_FIELDS = (
    "model",
    "split",
    "source",
    "caption_template",
    "pairs",
    "summary",
    "in_batch_recall",
    "recall_chart",
    "loss_chart",
    "report_json",
    "created_at",
)


class EvaluationReportInline(admin.StackedInline[EvaluationReport, EmbeddingModel]):
    model = EvaluationReport
    extra = 0
    can_delete = True
    show_change_link = True
    fields = _INLINE_FIELDS
    readonly_fields = _INLINE_FIELDS

    def has_add_permission(self, request: HttpRequest, obj: EmbeddingModel | None = None) -> bool:
        return False

    @admin.display(description="recall")
    def summary(self, obj: EvaluationReport) -> SafeString | str:
        return _metrics_table(obj.metrics, obj.baseline_metrics)

    @admin.display(description="recall@k, before and after")
    def recall_chart(self, obj: EvaluationReport) -> SafeString | str:
        return _plot(obj.recall_plot, "recall@k before and after")

    @admin.display(description="training loss")
    def loss_chart(self, obj: EvaluationReport) -> SafeString | str:
        return _plot(obj.loss_plot, "training loss per epoch")


@admin.display(description="test t2i recall@5")
def test_split_recall(obj: EmbeddingModel) -> str:
    report = EvaluationReport.objects.filter(model=obj, split="test").first()
    value = report.t2i_recall_at_5 if report is not None else None
    return f"{value:.3f}" if value is not None else "-"


# The embeddings app's model admin, with the evaluation reports only the training app knows.
EmbeddingModelAdmin.extend(inlines=[EvaluationReportInline], list_display=[test_split_recall])


@admin.register(EvaluationReport)
class EvaluationReportAdmin(admin.ModelAdmin[EvaluationReport]):
    list_display = ["model", "split", "pairs", "t2i_recall_at_5", "baseline_name", "created_at"]
    list_filter = ["model", "split"]
    fields = _REPORT_FIELDS
    readonly_fields = _REPORT_FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="recall, whole split")
    def summary(self, obj: EvaluationReport) -> SafeString | str:
        return _metrics_table(obj.metrics, obj.baseline_metrics)

    @admin.display(description="in-batch recall (original project's measure)")
    def in_batch_recall(self, obj: EvaluationReport) -> SafeString | str:
        return _metrics_table({k: v for k, v in obj.in_batch.items() if k != "batch_size"})

    @admin.display(description="recall@k, before and after")
    def recall_chart(self, obj: EvaluationReport) -> SafeString | str:
        return _plot(obj.recall_plot, "recall@k before and after")

    @admin.display(description="training loss")
    def loss_chart(self, obj: EvaluationReport) -> SafeString | str:
        return _plot(obj.loss_plot, "training loss per epoch")

    @admin.display(description="JSON report")
    def report_json(self, obj: EvaluationReport) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(obj.report, indent=2))


class TrainingJobForm(forms.ModelForm[TrainingJob]):
    class Meta:
        model = TrainingJob
        fields = [
            "architecture",
            "pretrained",
            "source",
            "csv_path",
            "caption_template",
            "options",
            "device",
            "val_fraction",
            "test_fraction",
            "register_name",
            "out_dir",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            TrainOptions.from_dict(data.get("options") or {}).check()
        except (TrainingError, TypeError) as exc:
            self.add_error("options", str(exc))
        if data.get("source") == TrainingJob.Source.CSV and not data.get("csv_path"):
            self.add_error("csv_path", "a CSV source needs the path of its file")
        # Paths are confined to TRAINING_DIR here for a clear message, and again by the worker.
        checks = [("pretrained", job_weights), ("out_dir", output_dir)]
        if data.get("source") == TrainingJob.Source.CSV:
            checks.append(("csv_path", dataset_csv))
        for name, check in checks:
            if data.get(name):
                try:
                    check(data[name])
                except TrainingPathError as exc:
                    self.add_error(name, str(exc))
        if template := data.get("caption_template"):
            try:
                check_caption_template(template)
            except DatasetError as exc:
                self.add_error("caption_template", str(exc))
        return data


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin[TrainingJob]):
    """Fine-tuning jobs: adding one queues it on the train queue; its page shows epoch, loss and ETA."""

    form = TrainingJobForm
    list_display = [
        "id",
        "status",
        "architecture",
        "pretrained",
        "source",
        "progress",
        "registered_model",
        "created_at",
    ]
    list_filter = ["status", "source"]
    actions = ["queue_again"]
    progress_fields = [
        "status",
        "progress",
        "message",
        "error",
        "heartbeat_at",
        "started_at",
        "finished_at",
        "registered_model",
        "results",
        "report_json",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Adding a job queues it on the train queue: that is running one.
        return super().has_add_permission(request) and self.has_run_permission(request)

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("training.run_trainingjob")

    def get_fields(self, request: HttpRequest, obj: TrainingJob | None = None) -> list[Any]:
        setup = list(TrainingJobForm.Meta.fields)
        return setup if obj is None else [*self.progress_fields, *setup]

    def get_readonly_fields(self, request: HttpRequest, obj: TrainingJob | None = None) -> list[str]:
        # A job's settings are fixed once queued: its report must describe what actually ran.
        return [] if obj is None else [*self.progress_fields, *TrainingJobForm.Meta.fields]

    def save_model(self, request: HttpRequest, obj: TrainingJob, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            queue_job(obj)
            self.message_user(request, f"Training job {obj.pk} queued on the train queue.")

    @admin.display(description="progress")
    def progress(self, obj: TrainingJob) -> str:
        if obj.status == TrainingJob.Status.QUEUED:
            return "waiting for a train worker"
        text = f"epoch {obj.epoch}/{obj.epochs}, step {obj.step}/{obj.total_steps}"
        if obj.loss is not None:
            text += f", loss {obj.loss:.4f}"
        if obj.status == TrainingJob.Status.RUNNING and obj.eta_seconds is not None:
            text += f", about {_duration(obj.eta_seconds)} left"
        if obj.is_stale():
            text += " (no report from its worker for a while: it may have died)"
        return text

    @admin.display(description="recall, test split")
    def results(self, obj: TrainingJob) -> SafeString | str:
        report = obj.report or {}
        return _metrics_table(report.get("after"), report.get("before"))

    @admin.display(description="JSON report")
    def report_json(self, obj: TrainingJob) -> SafeString | str:
        return format_html("<pre>{}</pre>", json.dumps(obj.report, indent=2)) if obj.report else "-"

    @admin.action(description="Queue the selected failed or stalled jobs again", permissions=["run"])
    def queue_again(self, request: HttpRequest, queryset: QuerySet[TrainingJob]) -> None:
        queued = [job.pk for job in queryset if requeue_job(job)]
        self.message_user(
            request, f"Queued again: {', '.join(map(str, queued)) or 'none (only failed or stalled jobs)'}."
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
