"""A curator's pins and synonyms move the judged-set figures: the evaluation ranks as visitors' searches
do, so pinning a query's relevant artwork puts its MRR and nDCG@10 at 1.0, and a synonym that finds a
relevant artwork the words missed raises its recall."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from catalog.models import Artwork, QueryPin, Synonym
from search.evaluation.judgments import load_judged_queries
from search.evaluation.runs import MRR, NDCG, RECALL, score_mode, summary
from search.tests.curated import build_catalog
from search.types import Mode

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def catalog(embedding_model: Any) -> dict[str, Artwork]:
    return build_catalog(embedding_model)


def judged_file(tmp_path: Path, query: str, relevant: Artwork) -> Path:
    path = tmp_path / "judged.jsonl"
    path.write_text(json.dumps({"query": query, "kind": "test", "relevant": {str(relevant.aic_id): 3}}) + "\n")
    return path


def test_a_pin_puts_the_relevant_artwork_first(
    catalog: dict[str, Artwork], embedding_model: Any, tmp_path: Path
) -> None:
    # "storm at sea" finds the storm by its words; the quiet harbour, judged relevant, comes later.
    queries = load_judged_queries(judged_file(tmp_path, "storm at sea", catalog["harbour"]))
    before = summary(score_mode(queries, Mode.HYBRID, embedding_model))
    assert before[MRR] < 1.0 and before[NDCG] < 1.0

    QueryPin.objects.create(query="storm at sea", artwork=catalog["harbour"], position=1)

    after = summary(score_mode(queries, Mode.HYBRID, embedding_model))
    assert after[MRR] == 1.0 and after[NDCG] == 1.0


def test_a_synonym_finds_the_relevant_artwork_the_words_missed(
    catalog: dict[str, Artwork], embedding_model: Any, tmp_path: Path
) -> None:
    # "ocean" finds the waves by their description, not the storm at sea, judged relevant.
    queries = load_judged_queries(judged_file(tmp_path, "ocean", catalog["storm"]))
    before = summary(score_mode(queries, Mode.KEYWORD, None))
    assert before[RECALL] == 0.0

    Synonym.objects.create(terms="sea, ocean")

    after = summary(score_mode(queries, Mode.KEYWORD, None))
    assert after[RECALL] == 1.0 and after[MRR] == 1.0  # the title outranks the description
