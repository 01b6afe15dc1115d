"""The judged query set is what search/judged/build.py makes from the sample records, and every line reads."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from conftest import SAMPLE_DIR
from search.evaluation.judgments import load_judged_queries
from search.judged import build

QUERIES = Path(build.__file__).resolve().parent / "queries.jsonl"


def test_a_rebuild_gives_the_committed_file_byte_for_byte(tmp_path: Path) -> None:
    assert build.main([str(tmp_path / "queries.jsonl")]) == 0

    assert (tmp_path / "queries.jsonl").read_bytes() == QUERIES.read_bytes()


def test_every_query_reads_and_judges_artworks_of_the_sample() -> None:
    queries = load_judged_queries(QUERIES)
    sample_ids = {int(path.stem) for path in (SAMPLE_DIR / "records").glob("*.json")}

    assert len(queries) >= 150
    kinds = Counter(query.kind for query in queries)
    assert {"title", "artist", "subject", "style", "visual", "misspelling", "language"} <= set(kinds)
    for query in queries:
        assert set(query.relevant) <= sample_ids, query.query
        assert set(query.relevant.values()) <= {1, 2, 3}
    # Not every query is one record's own title: most judge several artworks.
    assert sum(len(query.relevant) > 1 for query in queries) > len(queries) / 2
    filtered = [json.loads(line) for line in QUERIES.read_text().splitlines() if '"filters"' in line]
    assert filtered and all(query.filters.active() for query in queries if query.kind == "filtered")
