"""What the interleaving tests share: a running experiment, and the page they expect a visitor to see."""

from __future__ import annotations

from django.conf import settings

from search.experiments import candidate_weights, draw
from search.interleaving import Interleaved, team_draft
from search.models_interleaving import InterleavingExperiment
from search.ranking import search
from search.types import Hit


def running_experiment(share: float, **fields: object) -> InterleavingExperiment:
    """A started experiment whose candidate ranks hybrid searches by keywords alone (unless told otherwise)."""
    fields.setdefault("candidate_semantic_weight", 0.0)
    experiment = InterleavingExperiment.objects.create(name=f"candidate {share}", share=share, **fields)
    experiment.full_clean()
    experiment.start()
    return experiment


def expected_page(experiment: InterleavingExperiment, visitor: str, query: str) -> Interleaved[Hit]:
    """The first page a visitor should be shown, built here from the two rankings and the draft."""
    size = settings.SEARCH_DEFAULT_K
    production = search(query, page_size=size).hits
    candidate = search(query, page_size=size, weights=candidate_weights(experiment)).hits
    _, seed = draw(visitor, experiment.pk, query)
    return team_draft(production, candidate, size, seed, key=lambda hit: hit.artwork.pk)
