"""A search evaluation made and stored: every mode run over the judged queries, figures per mode and
per kind, the worst queries, and the plot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from embeddings.models import EmbeddingModel
from search.evaluation.judgments import JudgedQuery
from search.evaluation.runs import by_kind, score_mode, summary, worst
from search.models import SearchEvaluation
from search.types import Mode


def evaluate(
    queries: list[JudgedQuery],
    modes: list[Mode],
    model: EmbeddingModel | None,
    *,
    queries_file: Path | str = "",
    worst_count: int = 10,
    progress: Callable[[str], None] | None = None,
) -> SearchEvaluation:
    """Runs ``queries`` in each of ``modes`` (semantic and hybrid under ``model``) and stores the report."""
    figures: dict[str, dict[str, float]] = {}
    kinds: dict[str, dict[str, dict[str, float]]] = {}
    worst_queries: dict[str, list[dict[str, Any]]] = {}
    for mode in modes:
        scores = score_mode(queries, mode, model)
        figures[mode.value] = summary(scores)
        kinds[mode.value] = by_kind(scores)
        worst_queries[mode.value] = worst(scores, worst_count)
        if progress is not None:
            progress(f"{mode.value}: {len(scores)} queries ranked")
    report = SearchEvaluation(
        queries_file=str(queries_file),
        queries=len(queries),
        model=model,
        model_name=model.name if model is not None else "",
        modes=figures,
        kinds=kinds,
        worst=worst_queries,
    )
    report.plot = _plot(figures, kinds)
    report.save()
    return report


def _plot(figures: dict[str, dict[str, float]], kinds: dict[str, dict[str, dict[str, float]]]) -> bytes | None:
    """The report's PNG; None where matplotlib is not installed (a web image), and the admin shows none."""
    try:
        from search.evaluation.plots import modes_png
    except ImportError:
        return None
    return modes_png(figures, kinds)
