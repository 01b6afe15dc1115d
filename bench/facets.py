"""Facet counts: what they add to a search, by mode, over the search benchmark's collection.

    python -m bench.facets [--n 100000] [--queries 40]

The synthetic collection of ``bench.search`` (loaded first when the database holds another size).
For each mode and each query, warm (one pass first): ``search.ranking.search`` for the first page
(the API's defaults), then ``search.facets.facet_counts`` for the same query, as /api/search runs
them; the p50/p99 milliseconds of each, unfiltered and under a department and public domain, and
how many artworks the facets counted (their has_image counts). Target: facets add ≤ 10 ms p50 at
100k. Hybrid's facets count the nearest artworks the ranking read (``SearchPage.nearest``);
``hybrid, walking`` times them, alternately with those, walking the index again as they did before.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from bench.environment import percentile
from bench.search import FILTER_DEPARTMENT, SEARCH_DATABASE, _corpus_note, _load_corpus, text_queries


def _timed(modes: list[Any], queries: list[str], filters: Any) -> dict[str, Any]:
    from search.facets import facet_counts
    from search.ranking import search

    figures: dict[str, Any] = {}
    for mode in modes:
        for query in queries:  # warm-up: query vectors cached, pages in shared buffers
            page = search(query, mode=mode, filters=filters)
            facet_counts(query, mode, filters, page.model, page.nearest)
        search_ms, facets_ms, walking_ms, counted = [], [], [], []
        for query in queries:
            started = time.perf_counter()
            page = search(query, mode=mode, filters=filters)
            searched = time.perf_counter()
            facets = facet_counts(query, mode, filters, page.model, page.nearest)
            done = time.perf_counter()
            search_ms.append((searched - started) * 1000)
            facets_ms.append((done - searched) * 1000)
            counted.append(sum(int(item["count"]) for item in facets["has_image"]))
            if page.nearest is not None:
                started = time.perf_counter()
                facet_counts(query, mode, filters, page.model)
                walking_ms.append((time.perf_counter() - started) * 1000)
        figures[mode.value] = {
            "search_p50_ms": round(percentile(search_ms, 0.5), 2),
            "facets_p50_ms": round(percentile(facets_ms, 0.5), 2),
            "facets_p99_ms": round(percentile(facets_ms, 0.99), 2),
            "counted_p50": int(percentile([float(c) for c in counted], 0.5)),
            "counted_max": max(counted),
        }
        if walking_ms:
            figures[f"{mode.value}, walking"] = {
                "facets_p50_ms": round(percentile(walking_ms, 0.5), 2),
                "facets_p99_ms": round(percentile(walking_ms, 0.99), 2),
            }
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="artworks (and vectors)")
    parser.add_argument("--queries", type=int, default=40, help="text queries per mode")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from bench.environment import configure, machine, print_table

    configure(database=SEARCH_DATABASE)
    from bench.models import register_random_model
    from embeddings.models import ArtworkEmbedding
    from search.filters import SearchFilters
    from search.types import Mode

    model: Any = register_random_model("bench-search", "ViT-B-32", activate=True)
    loaded = ArtworkEmbedding.objects.filter(model=model).count()
    if model.notes != _corpus_note(args.n, args.seed) or loaded != args.n:
        _load_corpus(model, args.n, args.seed)
    queries = text_queries(args.queries, args.seed)
    modes = [Mode.KEYWORD, Mode.SEMANTIC, Mode.HYBRID]
    figures: dict[str, Any] = {
        "n": args.n,
        "queries": len(queries),
        "unfiltered": _timed(modes, queries, SearchFilters()),
        "filtered": _timed(modes, queries, SearchFilters(department=FILTER_DEPARTMENT, is_public_domain=True)),
        "machine": machine(),
    }
    rows = [
        (
            f"{label}: {mode}",
            f"search p50 {row['search_p50_ms']:.2f} ms; facets p50 {row['facets_p50_ms']:.2f} / "
            f"p99 {row['facets_p99_ms']:.2f} ms over {row['counted_p50']:,} artworks (max {row['counted_max']:,})"
            if "search_p50_ms" in row
            else f"facets p50 {row['facets_p50_ms']:.2f} / p99 {row['facets_p99_ms']:.2f} ms",
        )
        for label in ("unfiltered", "filtered")
        for mode, row in figures[label].items()
    ]
    print_table(f"Facet counts over {args.n:,} artworks (target: ≤ 10 ms p50 added at 100k)", rows)
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
