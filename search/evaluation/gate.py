"""The ranking gate of an activation: just before the switch, the judged query set is ranked under the
candidate and under the active model, as visitors' searches would be; a candidate whose hybrid nDCG@10
falls below the active one's by more than SEARCH_GATE_MARGIN is refused (a forced activation skips it).

Both reports are stored as SearchEvaluation rows, so the admin shows what the verdict was made on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.dispatch import receiver

from catalog.models import Artwork, visible_q
from embeddings.activation.gate import GateNote, switch_gate
from embeddings.models import EmbeddingModel
from search.evaluation.judgments import JudgedQuery, JudgmentError, load_judged_queries
from search.evaluation.reports import evaluate
from search.evaluation.runs import NDCG
from search.types import Mode

logger = logging.getLogger(__name__)

GATE_MODE = Mode.HYBRID
# Semantic is stored beside it: it shows what the candidate's vectors alone do.
EVALUATED_MODES = [Mode.HYBRID, Mode.SEMANTIC]
# Below this share of judged queries with a relevant artwork in the catalog, the figures say nothing of
# this collection (another museum's, a partial harvest): the gate lets the candidate through with a note.
MIN_ANSWERABLE_SHARE = 0.5


@receiver(switch_gate, dispatch_uid="search.ranking_gate")
def refuse_a_worse_ranking(
    sender: Any, candidate: EmbeddingModel, active: EmbeddingModel, **kwargs: Any
) -> str | GateNote | None:
    return ranking_verdict(candidate, active)


def ranking_verdict(candidate: EmbeddingModel, active: EmbeddingModel) -> str | GateNote | None:
    """A refusal naming the figures, a note (what was measured, or why nothing was), or None when the
    gate is off (SEARCH_GATE_QUERIES empty)."""
    if not settings.SEARCH_GATE_QUERIES:
        return None
    path = Path(settings.SEARCH_GATE_QUERIES)
    try:
        judged = load_judged_queries(path)
    except (OSError, JudgmentError) as exc:
        return f"the ranking gate cannot read its judged queries ({exc}): fix or empty SEARCH_GATE_QUERIES"
    answerable = answerable_queries(judged)
    if len(answerable) < MIN_ANSWERABLE_SHARE * len(judged):
        note = (
            f"ranking gate not applied: only {len(answerable)} of {len(judged)} judged queries have a relevant "
            "artwork in the catalog"
        )
        logger.info("%s: %s", candidate.name, note)
        return GateNote(note)
    reports = {
        model.pk: evaluate(answerable, EVALUATED_MODES, model, queries_file=path) for model in (candidate, active)
    }
    ndcg = {pk: report.figure(GATE_MODE.value, NDCG) or 0.0 for pk, report in reports.items()}
    ours, theirs = ndcg[candidate.pk], ndcg[active.pk]
    gap = round(theirs - ours, 4)
    margin = settings.SEARCH_GATE_MARGIN
    logger.info(
        "ranking gate: %s hybrid %s %.4f, active %s %.4f, margin %g, %d queries",
        candidate.name,
        NDCG,
        ours,
        active.name,
        theirs,
        margin,
        len(answerable),
    )
    evaluations = f"search evaluations {reports[candidate.pk].pk} and {reports[active.pk].pk}"
    if gap > margin:
        return (
            f"hybrid nDCG@10 {ours:.3f} is {gap:.3f} below the active model's {theirs:.3f} (margin {margin:g}) "
            f"on {len(answerable)} judged queries ({evaluations})"
        )
    return GateNote(
        f"ranking gate passed: hybrid nDCG@10 {ours:.3f}, the active model's {theirs:.3f} (margin {margin:g}) "
        f"on {len(answerable)} judged queries ({evaluations})"
    )


def answerable_queries(judged: list[JudgedQuery]) -> list[JudgedQuery]:
    """The judged queries with at least one relevant artwork that search may show in this catalog."""
    relevant = {aic_id for query in judged for aic_id in query.relevant}
    present = set(Artwork.objects.filter(visible_q(), aic_id__in=relevant).values_list("aic_id", flat=True))
    return [query for query in judged if present.intersection(query.relevant)]
