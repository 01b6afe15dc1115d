"""The search app's models: search quality reports (a judged query set run through the ranking,
stored for the admin) here; the search log's in ``search.models_log``, interleaving experiments' in
``search.models_interleaving``."""

from __future__ import annotations

from typing import Any

from django.db import models

from embeddings.models import EmbeddingModel
from search.models_interleaving import InterleavedSearch, InterleavingExperiment
from search.models_log import SearchClick, SearchLogEntry

__all__ = ["InterleavedSearch", "InterleavingExperiment", "SearchClick", "SearchEvaluation", "SearchLogEntry"]


class SearchEvaluation(models.Model):
    """One run of ``evaluate_search``: nDCG@10, recall@24 and MRR per mode and per kind of query,
    the worst queries of each mode, and a plot (PNG, drawn when the report was made)."""

    queries_file = models.CharField(max_length=500)
    queries = models.PositiveIntegerField()
    model = models.ForeignKey(
        EmbeddingModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="search_evaluations"
    )
    model_name = models.CharField(max_length=200, blank=True, help_text="kept when the model is deleted")
    modes = models.JSONField(help_text="per mode: ndcg@10, recall@24, mrr over every query")
    kinds = models.JSONField(help_text="per mode, per kind of query: the number of queries and the three means")
    worst = models.JSONField(help_text="per mode: the queries of lowest nDCG@10, with their first results")
    plot = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"search evaluation {self.pk}: {self.queries} queries, {self.model_name or 'keyword only'}"

    def figure(self, mode: str, metric: str) -> float | None:
        value: Any = (self.modes.get(mode) or {}).get(metric)
        return float(value) if value is not None else None

    def summary(self) -> dict[str, Any]:
        """The command's last line: queries, model, and the three means per mode."""
        return {"queries": self.queries, "model": self.model_name or None, "modes": self.modes}
