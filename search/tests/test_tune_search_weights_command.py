"""tune_search_weights: the sweep printed as a table of grid points with the cross-validated figure, the
last line one JSON object; a number of folds the set cannot be dealt into is refused by name."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)

QUERIES = [
    {"query": "The Bedroom", "kind": "title", "relevant": {"28560": 3}},
    {"query": "Monet", "kind": "artist", "relevant": {"14598": 3, "16568": 3}},
    {"query": "seascape", "kind": "subject", "relevant": {"14598": 2, "81535": 3}},
    {"query": "a stormy sea at night", "kind": "visual", "relevant": {"81535": 3}},
    {"query": "Van Gough", "kind": "misspelling", "relevant": {"28560": 3}},
    {"query": "water lilies", "kind": "title", "relevant": {"16568": 3}},
]


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "queries.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in QUERIES))
    return path


def test_the_last_line_is_the_sweep_as_json(
    collection: list[Artwork], embedding_model: Any, tmp_path: Path, settings: Any
) -> None:
    output = io.StringIO()
    call_command("tune_search_weights", "--queries", str(_write(tmp_path)), "--folds", "3", stdout=output)

    lines = output.getvalue().splitlines()
    summary = json.loads(lines[-1])
    assert set(summary) == {"queries", "model", "current", "best", "cross_validated"}
    assert summary["queries"] == len(QUERIES) and summary["model"] == embedding_model.name
    assert summary["current"]["rrf_k"] == settings.SEARCH_RRF_K
    for figures in (summary["current"], summary["best"]):
        assert {"rrf_k", "keyword", "semantic", "ndcg@10", "recall@24", "mrr"} <= set(figures)
        assert 0.0 <= figures["ndcg@10"] <= 1.0
    # The best on the whole set is at least as good there as the current settings.
    assert summary["best"]["ndcg@10"] >= summary["current"]["ndcg@10"]
    folds = summary["cross_validated"]["folds"]
    assert len(folds) == 3 and sum(fold["queries"] for fold in folds) == len(QUERIES)
    assert 0.0 <= summary["cross_validated"]["ndcg@10"] <= 1.0
    assert any(line.startswith("cross-validated over 3 folds") for line in lines)


@pytest.mark.parametrize("folds", ["1", "7"])
def test_folds_the_set_cannot_be_dealt_into_are_refused(db: None, tmp_path: Path, folds: str) -> None:
    with pytest.raises(CommandError, match=rf"--folds must be between 2 and the number of queries \(6\), not {folds}"):
        call_command("tune_search_weights", "--queries", str(_write(tmp_path)), "--folds", folds, stdout=io.StringIO())
