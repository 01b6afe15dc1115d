"""Search quality in the admin: evaluation reports (read-only: figures per mode and per kind, the worst
queries, the plot), each model's latest hybrid nDCG@10 in the model list (the ranking gate stores one
per activation), and interleaving experiments (started and stopped here, scored by live clicks).

The plot was drawn when the report was made: this module never imports matplotlib, which web
images do not install.
"""

from __future__ import annotations

import base64
from typing import Any

from django.contrib import admin, messages
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from embeddings.admin import EmbeddingModelAdmin
from embeddings.models import EmbeddingModel
from search.evaluation.runs import MRR, NDCG, RECALL
from search.models import SearchEvaluation
from search.models_interleaving import InterleavedSearch, InterleavingExperiment

METRICS = (NDCG, RECALL, MRR)
_FIELDS = ("created_at", "model_name", "queries_file", "queries", "modes_table", "kinds_table", "worst_table", "chart")


def _bar(value: float) -> SafeString:
    """A value in [0, 1] as a plain HTML bar with its figure, so no image library is needed."""
    width = max(0.0, min(1.0, value)) * 120
    return format_html(
        '<span style="display:inline-block;width:{}px;height:0.8em;background:#417690;vertical-align:middle">'
        "</span> {}",
        f"{width:.0f}",
        f"{value:.3f}",
    )


def _figures_row(name: str, figures: dict[str, Any]) -> tuple[Any, ...]:
    return (name, figures.get("queries", ""), *(_bar(float(figures.get(metric, 0.0))) for metric in METRICS))


def _table(rows: list[tuple[Any, ...]], first: str) -> SafeString:
    header = format_html_join("", "<th>{}</th>", ((name,) for name in (first, "queries", *METRICS)))
    body = format_html_join("", "<tr>" + "<td>{}</td>" * (2 + len(METRICS)) + "</tr>", rows)
    return format_html("<table><tr>{}</tr>{}</table>", header, body)


@admin.register(SearchEvaluation)
class SearchEvaluationAdmin(admin.ModelAdmin[SearchEvaluation]):
    """Reports are written by ``manage.py evaluate_search``; here they are only read (or deleted)."""

    list_display = ["created_at", "model_name", "queries", "hybrid_ndcg", "semantic_ndcg", "keyword_ndcg"]
    fields = _FIELDS
    readonly_fields = _FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SearchEvaluation | None = None) -> bool:
        return False

    def _ndcg(self, obj: SearchEvaluation, mode: str) -> str:
        value = obj.figure(mode, NDCG)
        return f"{value:.3f}" if value is not None else "-"

    @admin.display(description="hybrid nDCG@10")
    def hybrid_ndcg(self, obj: SearchEvaluation) -> str:
        return self._ndcg(obj, "hybrid")

    @admin.display(description="semantic nDCG@10")
    def semantic_ndcg(self, obj: SearchEvaluation) -> str:
        return self._ndcg(obj, "semantic")

    @admin.display(description="keyword nDCG@10")
    def keyword_ndcg(self, obj: SearchEvaluation) -> str:
        return self._ndcg(obj, "keyword")

    @admin.display(description="per mode")
    def modes_table(self, obj: SearchEvaluation) -> SafeString:
        rows = [_figures_row(mode, {"queries": obj.queries, **figures}) for mode, figures in obj.modes.items()]
        return _table(rows, "mode")

    @admin.display(description="per kind of query")
    def kinds_table(self, obj: SearchEvaluation) -> SafeString:
        rows = [
            _figures_row(f"{mode}: {kind}", figures)
            for mode, kinds in obj.kinds.items()
            for kind, figures in kinds.items()
        ]
        return _table(rows, "mode: kind")

    @admin.display(description="worst queries")
    def worst_table(self, obj: SearchEvaluation) -> SafeString:
        rows = [
            (
                mode,
                entry["query"],
                entry["kind"],
                f"{entry[NDCG]:.3f}",
                entry.get("first_relevant_rank") or "-",
                ", ".join(str(aic_id) for aic_id in entry.get("top", [])),
            )
            for mode, entries in obj.worst.items()
            for entry in entries
        ]
        header = format_html_join(
            "", "<th>{}</th>", ((n,) for n in ("mode", "query", "kind", NDCG, "first relevant", "first results"))
        )
        body = format_html_join("", "<tr>" + "<td>{}</td>" * 6 + "</tr>", rows)
        return format_html("<table><tr>{}</tr>{}</table>", header, body)

    @admin.display(description="per mode and kind")
    def chart(self, obj: SearchEvaluation) -> SafeString | str:
        if not obj.plot:
            return "-"
        encoded = base64.b64encode(bytes(obj.plot)).decode("ascii")
        return format_html('<img src="data:image/png;base64,{}" alt="figures per mode and kind" width="960">', encoded)


_EXPERIMENT_COUNTERS = ("impressions", "clicks_a", "clicks_b", "wins_a", "wins_b", "ties")
_CANDIDATE_FIELDS = ("candidate_model", "candidate_rrf_k", "candidate_keyword_weight", "candidate_semantic_weight")


def _interval(obj: InterleavingExperiment) -> str:
    found = obj.preference()
    if found.low is None or found.high is None:
        return f"{found.delta:+.3f}"
    return f"{found.delta:+.3f} [{found.low:+.3f}, {found.high:+.3f}]"


@admin.register(InterleavingExperiment)
class InterleavingExperimentAdmin(admin.ModelAdmin[InterleavingExperiment]):
    """Experiments are started and stopped by the list's actions; their counters are written by the
    search log's flush (search/models_interleaving.py) and only read here. A running experiment's
    candidate and share cannot be edited: what it measured so far would no longer be what it names."""

    list_display = [
        "name",
        "is_running",
        "share",
        "impressions",
        "wins_a",
        "wins_b",
        "ties",
        "preference_interval",
        "verdict",
    ]
    actions = ["start_experiment", "stop_experiment"]
    readonly_fields = [
        "is_running",
        "started_at",
        "stopped_at",
        *_EXPERIMENT_COUNTERS,
        "preference_interval",
        "verdict",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: InterleavingExperiment | None = None) -> Any:
        if obj is not None and obj.is_running:
            return [*_CANDIDATE_FIELDS, "share", "modes", *self.readonly_fields]
        return self.readonly_fields

    @admin.display(description="preference Δ, 95% interval")
    def preference_interval(self, obj: InterleavingExperiment) -> str:
        """(wins B - wins A) / clicked impressions, with the normal interval of Preference's docstring."""
        return _interval(obj)

    @admin.display(description="verdict")
    def verdict(self, obj: InterleavingExperiment) -> str:
        return obj.preference().verdict

    @admin.action(description="Start the selected experiment (one may run at a time)", permissions=["change"])
    def start_experiment(self, request: HttpRequest, queryset: QuerySet[InterleavingExperiment]) -> None:
        chosen = list(queryset)
        if len(chosen) != 1:
            self.message_user(request, "Choose one experiment to start.", messages.ERROR)
            return
        running = InterleavingExperiment.running()
        if running is not None and running.pk != chosen[0].pk:
            self.message_user(request, f"Stop {running.name!r} first: one experiment runs at a time.", messages.ERROR)
            return
        try:
            with transaction.atomic():
                chosen[0].start()
        except IntegrityError:  # another admin started one meanwhile
            self.message_user(request, "Another experiment is running: stop it first.", messages.ERROR)
            return
        self.message_user(request, f"{chosen[0].name!r} is running.")

    @admin.action(description="Stop the selected experiments", permissions=["change"])
    def stop_experiment(self, request: HttpRequest, queryset: QuerySet[InterleavingExperiment]) -> None:
        for experiment in queryset.filter(is_running=True):
            experiment.stop()
        self.message_user(request, "Stopped.")


@admin.register(InterleavedSearch)
class InterleavedSearchAdmin(admin.ModelAdmin[InterleavedSearch]):
    """Each interleaved search's teams and clicks, read-only: what the experiment's counters add up."""

    list_display = ["search", "experiment", "teams", "clicks_a", "clicks_b"]
    list_filter = ["experiment"]
    readonly_fields = ["search", "experiment", "teams", "clicks_a", "clicks_b"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: InterleavedSearch | None = None) -> bool:
        return False


@admin.display(description="judged hybrid nDCG@10")
def judged_hybrid_ndcg(obj: EmbeddingModel) -> str:
    """The model's latest search evaluation with a hybrid figure (``evaluate_search``, the ranking gate)."""
    report = SearchEvaluation.objects.filter(model=obj, modes__has_key="hybrid").first()
    value = report.figure("hybrid", NDCG) if report is not None else None
    return f"{value:.3f}" if value is not None else "-"


EmbeddingModelAdmin.extend(list_display=[judged_hybrid_ndcg])
